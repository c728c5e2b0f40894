// Test guest exercising the typed SDK surface: init config, cache reads, output intents, finalize, logs.

import {
  CLUSTER_ROLE,
  CONDITION_TRUE,
  CONFIG_MAP,
  Context,
  cache,
  EVENT_WARNING,
  hex32,
  InitContext,
  LOG_LEVEL_DEBUG,
  log,
  register,
  registerFinalize,
  registerInit,
} from '@wasm-reconciler/sdk-assemblyscript/assembly';

export * from '@wasm-reconciler/sdk-assemblyscript/assembly/exports';
export * from '@wasm-reconciler/sdk-assemblyscript/assembly/finalize';

registerInit((init: InitContext): void => {
  if (!init.config.get('mode').isString()) init.reject('config.mode must be a string');
});

register((ctx: Context): void => {
  const spec = ctx.primary.spec;
  const out = ctx.out;
  const status = out.status();
  status.str('mode', ctx.config.get('mode').str());
  status.str('reason', ctx.reason);
  status.str('reconciler', ctx.reconcilerName);

  const ref = spec.get('ref').str();
  const got = cache.get('v1', 'ConfigMap', ctx.primary.namespace, ref);
  status.int('getStatus', got.status).str('getStatusName', got.statusName());
  if (got.ok) status.value('gotData', got.value.get('data'));
  const listed = cache.list('v1', 'ConfigMap', ctx.primary.namespace, spec.get('selector').str());
  status.int('listStatus', listed.status).int('listCount', listed.value.length());
  const denied = cache.get('v1', 'Secret', ctx.primary.namespace, 's');
  status.bool('secretDenied', denied.denied);

  if (spec.get('requeue').exists()) {
    out.requeueAfter(spec.get('requeue').int());
    out.requeueAfter(spec.get('requeue').int() * 2);
  }
  if (spec.get('finalize').bool()) out.ensureFinalizer();
  if (spec.get('keep').bool()) out.keepChildren();
  if (spec.get('clusterChild').bool())
    out.clusterChild('rbac.authorization.k8s.io/v1', 'ClusterRole', 'r').rawJson('rules', '[]');
  out.condition('Ready', 'False', '', 'first');
  out.condition('Ready', CONDITION_TRUE, 'Done', 'second wins');
  out.event(EVENT_WARNING, 'Checked', 'checked ' + ref);
  log.info('reconciled ', ctx.primary.name);
  if (log.enabled(LOG_LEVEL_DEBUG)) log.debug('debug detail');
  if (spec.get('fail').bool()) out.error('asked to fail', true);
  if (spec.get('typed').bool()) {
    out.clusterChildOf(CLUSTER_ROLE, 'typed').rawJson('rules', '[]');
    status.int('typedChildren', ctx.childrenOf(CONFIG_MAP).length);
    status.bool('typedChild', ctx.childOf(CONFIG_MAP, 'c1').exists);
    status.int('typedListCount', cache.listOf(CONFIG_MAP, ctx.primary.namespace).value.length());
    status.int('specBytes', spec.byteLength()).int('copiedBytes', spec.bytes().length);
    status.str('specHash', hex32(spec.fnv1a())).str('chainedHash', hex32(spec.get('typed').fnv1a(spec.fnv1a())));
  }
  if (spec.get('terminal').bool()) out.fail('cannot work');
  if (spec.get('transient').bool()) out.retry('not yet');
});

registerFinalize((ctx: Context): void => {
  ctx.out.event('Normal', 'Cleanup', 'released ' + ctx.primary.name);
  ctx.out.releaseFinalizer();
});
