// Generated types compile with the SDK and read and write what the schema says: built into a real guest and
// called through the SDK's harness with an encoded input.

import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parseCrd } from '../project/crd.ts';
import { assemblyScriptTypes, constantName, memberName, pascal } from './assemblyscript.ts';

const ROOT = fileURLToPath(new URL('../../../../', import.meta.url));

const CRD = `
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: { name: webapps.example.com }
spec:
  group: example.com
  scope: Namespaced
  names: { plural: webapps, singular: webapp, kind: WebApp }
  versions:
    - name: v1alpha1
      served: true
      storage: true
      subresources: { status: {} }
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec:
              type: object
              required: [image, port]
              properties:
                image: { type: string, description: "The image. */ closes no comment" }
                port: { type: integer, format: int32 }
                replicas: { type: integer, default: 3 }
                ratio: { type: number, default: 0.5 }
                enabled: { type: boolean, default: true }
                tier: { type: string, enum: [gold, silver-plus, ""] }
                level: { type: integer, enum: [1, -3] }
                class: { type: string }
                default: { type: string }
                type: { type: string }
                foo-bar: { type: string }
                env:
                  type: array
                  items: { type: object, required: [name], properties: { name: { type: string }, value: { type: string } } }
                args: { type: array, items: { type: string } }
                matrix: { type: array, items: { type: array, items: { type: integer } } }
                labels: { type: object, additionalProperties: { type: string } }
                ports: { type: object, additionalProperties: { type: object, properties: { n: { type: integer } } } }
                extra: { type: object, x-kubernetes-preserve-unknown-fields: true }
                size: { x-kubernetes-int-or-string: true }
                nested: { type: object, properties: { deeper: { type: object, properties: { x: { type: string } } } } }
            status:
              type: object
              required: [phase]
              properties:
                phase: { type: string, enum: [Pending, Running] }
                observedGeneration: { type: integer }
                conditions: { type: array, items: { type: object, properties: { type: { type: string } } } }
                readyReplicas: { type: integer, format: int32 }
                endpoint:
                  type: object
                  required: [host, port]
                  properties: { host: { type: string }, port: { type: integer, format: int32 }, secure: { type: boolean } }
                urls: { type: array, items: { type: string } }
                workers:
                  type: array
                  items: { type: object, required: [id], properties: { id: { type: string }, load: { type: number } } }
                counts: { type: object, additionalProperties: { type: integer } }
                raw: { type: object, x-kubernetes-preserve-unknown-fields: true }
`;

const GUEST = `
import { Context, register } from "@wasm-reconciler/sdk-assemblyscript/assembly";
import { WEB_APP, WebAppSpec, WebAppSpecLevel, WebAppSpecTier, WebAppStatus, WebAppStatusPhase, WebAppStatusWriter } from "./types";
export * from "@wasm-reconciler/sdk-assemblyscript/assembly/exports";

register((ctx: Context): void => {
  const spec = WebAppSpec.of(ctx.primary);
  const s = WebAppStatusWriter.of(ctx.out, WebAppStatusPhase.Running);
  s.readyReplicas(spec.port + <i32>spec.replicas);
  s.endpoint(spec.image, spec.port).secure(spec.enabled);
  const urls = s.urls();
  const args = spec.args.items();
  while (args.next()) urls.add(args.value);
  const workers = s.workers();
  const env = spec.env.items();
  while (env.next()) workers.add(env.value.name).load(spec.ratio);
  const counts = s.counts();
  const ports = spec.ports.entries();
  while (ports.next()) counts.set(ports.key(), ports.value.n);
  s.raw(spec.extra);
  const w = s.w;
  w.bool("gold", spec.tier == WebAppSpecTier.Gold);
  w.bool("levelMinus3", spec.level == WebAppSpecLevel.VMinus3);
  w.str("reserved", spec.class_ + "|" + spec.default_ + "|" + spec.type + "|" + spec.fooBar);
  w.bool("hasClass", spec.hasClass());
  w.bool("hasTier", spec.hasTier());
  w.str("label", spec.labels.get("team"));
  w.int("matrix", spec.matrix.at(1).at(0));
  w.value("size", spec.size);
  w.str("deep", spec.nested.deeper.x);
  w.str("previous", WebAppStatus.of(ctx.primary).phase);
  w.str("kind", WEB_APP.kind);
});
`;

test('names: PascalCase parts, identifiers kept, reserved words suffixed, constants in SNAKE_CASE', () => {
  assert.equal(pascal('foo-bar.baz'), 'FooBarBaz');
  assert.equal(pascal('9lives'), 'N9lives');
  assert.equal(memberName('configMapName'), 'configMapName');
  assert.equal(memberName('foo-bar'), 'fooBar');
  assert.equal(memberName('class'), 'class_');
  assert.equal(memberName('type'), 'type');
  assert.equal(constantName('WebApp'), 'WEB_APP');
  assert.equal(constantName('HTTPRoute'), 'HTTP_ROUTE');
});

test('generated types compile with the SDK and read the spec and write the status the schema describes', async (t) => {
  const { buildModule } = await import('@wasm-reconciler/sdk-assemblyscript/tools/build');
  const { GuestHarness, reconcileInput } = await import('@wasm-reconciler/sdk-assemblyscript/tools/testing');
  const dir = await mkdtemp(join(tmpdir(), 'wr-codegen-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await mkdir(join(dir, 'assembly'));
  await mkdir(join(dir, 'node_modules/@wasm-reconciler'), { recursive: true });
  await symlink(join(ROOT, 'guest-sdk/assemblyscript'), join(dir, 'node_modules/@wasm-reconciler/sdk-assemblyscript'));
  const primary = parseCrd(CRD, 'crd.yaml');
  const types = assemblyScriptTypes({
    kind: primary.kind,
    apiVersion: `${primary.group}/${primary.version}`,
    source: 'crd.yaml',
    spec: primary.spec,
    status: primary.status,
  });
  assert.match(types, /static readonly SilverPlus: string = "silver-plus";/);
  assert.match(types, /\*\\\/ closes no comment/);
  assert.match(types, /status\.conditions: written by ctx\.out\.condition/);
  await writeFile(join(dir, 'assembly/types.ts'), types);
  await writeFile(join(dir, 'assembly/index.ts'), GUEST);
  const built = await buildModule({ entry: join(dir, 'assembly/index.ts'), optimize: 'none', cache: false });

  const guest = await GuestHarness.load(built.wasmPath);
  assert.equal(guest.init(null).status, 0);
  const spec = {
    image: 'shop:1',
    port: 8080,
    tier: 'gold',
    level: -3,
    class: 'c',
    default: 'd',
    type: 't',
    'foo-bar': 'fb',
    env: [{ name: 'a' }, { name: 'b', value: 'x' }],
    args: ['one', 'two'],
    matrix: [[1], [7, 8]],
    labels: { team: 'edge' },
    ports: { http: { n: 80 } },
    extra: { any: ['thing'] },
    size: '10Gi',
    nested: { deeper: { x: 'deep' } },
  };
  const input = reconcileInput({
    primary: {
      apiVersion: 'example.com/v1alpha1',
      kind: 'WebApp',
      metadata: { name: 'w', namespace: 'n', uid: 'u' },
      spec,
      status: { phase: 'Pending' },
    },
  });
  const result = guest.call('wr_reconcile', input);
  assert.equal(result.status, 0, JSON.stringify(result.logs));
  assert.deepEqual(JSON.parse(result.output ?? '{}').status, {
    phase: 'Running',
    readyReplicas: 8083, // port + the schema's default replicas (3)
    endpoint: { host: 'shop:1', port: 8080, secure: true }, // enabled defaults to true
    urls: ['one', 'two'],
    workers: [
      { id: 'a', load: 0.5 },
      { id: 'b', load: 0.5 },
    ],
    counts: { http: 80 },
    raw: { any: ['thing'] },
    gold: true,
    levelMinus3: true,
    reserved: 'c|d|t|fb',
    hasClass: true,
    hasTier: true,
    label: 'edge',
    matrix: 7,
    size: '10Gi',
    deep: 'deep',
    previous: 'Pending',
    kind: 'WebApp',
  });
});
