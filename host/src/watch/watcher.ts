// watcher(): a resilient list-then-watch stream of one resource, with client-go Reflector semantics.
//
// The initial state comes from a streaming watch-list where the server supports it (sendInitialEvents,
// on by default since Kubernetes 1.34): one request, no LIST, and the API server streams from its watch
// cache instead of building a whole list in memory (on a single-node k3s that memory is the node's).
// A server that refuses it, or a watch-list that fails before its initial events end, falls back to
// paginated lists, as client-go does.

import type { KubeObject } from '../abi/types.ts';
import { errorFields, isWrError, WrError } from '../errors.ts';
import { INITIAL_EVENTS_END, type KubeClient } from '../kube/client.ts';
import { retryAfterMsOf } from '../kube/internal/status.ts';
import { type Logger, silentLogger } from '../kube/logger.ts';
import type { ApiResource } from '../kube/paths.ts';
import { Backoff, type BackoffOptions } from './backoff.ts';

/**
 * What a watcher yields (kube-rs `watcher::Event`): a (re)list arrives as `init`, one `initApply` per
 * object, then `initDone`; after that, live changes. An `init` always means "forget the previous list".
 */
export type WatcherEvent =
  | { readonly type: 'init' }
  | { readonly type: 'initApply'; readonly object: KubeObject }
  | { readonly type: 'initDone'; readonly resourceVersion: string }
  | { readonly type: 'apply'; readonly object: KubeObject }
  | { readonly type: 'delete'; readonly object: KubeObject };

export interface WatcherSpec {
  readonly resource: ApiResource;
  /** Omitted: all namespaces (or a cluster-scoped resource). */
  readonly namespace?: string;
  readonly labelSelector?: string;
  readonly fieldSelector?: string;
}

export interface WatcherOptions {
  /**
   * 'watch-list' (default): initial syncs through a streaming watch-list, falling back to paginated lists
   * when the server refuses it. 'list': paginated lists only.
   */
  readonly initialSync?: 'watch-list' | 'list';
  readonly pageSize?: number;
  /** Server-side watch timeout is drawn from [min, max] seconds so many watches do not expire together. */
  readonly minWatchTimeoutSeconds?: number;
  readonly maxWatchTimeoutSeconds?: number;
  /**
   * No event and no bookmark for this long aborts the watch and resumes from the last resourceVersion.
   * The API server sends a bookmark about once a minute, so the default allows one to go missing.
   */
  readonly watchdogMs?: number;
  /**
   * A watch silent (no event, no bookmark) this long is probed, and again after every further interval of
   * silence; 0 turns probing off. A probe is one short watch (server timeout 1 s) from the same
   * resourceVersion on a new connection: if it delivers a change the running watch has not, that watch's
   * connection is frozen (a proxy or load balancer lost its state: no FIN, no RST, and TCP keepalive is
   * answered by the proxy), so it is abandoned and resumed from its resourceVersion, without a relist.
   * Cost: nothing while events or bookmarks arrive at least this often; otherwise at most one probe per
   * interval per watch (the API server sends bookmarks about once a minute, so an idle watch costs up to
   * five probes a minute at the default). Default 10 s.
   */
  readonly probeIntervalMs?: number;
  /** Longest a probe may take, connecting included; a probe that fails or times out proves nothing. Default 5 s. */
  readonly probeTimeoutMs?: number;
  /** A watch that ends cleanly sooner than this without any event counts as a failure (no hot loop). */
  readonly minHealthyWatchMs?: number;
  readonly backoff?: BackoffOptions;
  readonly logger?: Logger;
  /** Stops the watcher; the iterator then ends without an error. */
  readonly signal?: AbortSignal;
  readonly random?: () => number;
  readonly now?: () => number;
}

/** Live counters: "one list per 410, none per ordinary reconnect" is asserted on these. */
export interface WatcherStats {
  /** Initial syncs started, by list or by watch-list (the first one plus relists). */
  lists: number;
  /** Those done by a streaming watch-list (no LIST request). */
  watchLists: number;
  /** Watch-lists that failed before their initial events ended, each followed by a paginated list. */
  watchListFallbacks: number;
  listPages: number;
  /** Lists after the first, each caused by a 410 or a failed list. */
  relists: number;
  /** Lists restarted mid-pagination because the continue token expired. */
  listRestarts: number;
  watchesStarted: number;
  /** Watches started after the first one without a list in between. */
  reconnects: number;
  events: number;
  bookmarks: number;
  /** Watches abandoned as stalled: by the inactivity watchdog, or after a probe found them frozen. */
  stalls: number;
  /** Liveness probes started on a silent watch (see WatcherOptions.probeIntervalMs). */
  probes: number;
  /** Watches abandoned because a probe on a new connection saw changes they had not delivered. */
  frozen: number;
  /** 410 Gone answers and ERROR events. */
  gone: number;
  errors: number;
}

export interface Watcher extends AsyncIterable<WatcherEvent> {
  readonly stats: Readonly<WatcherStats>;
  /** The resourceVersion a resumed watch would start from; undefined before the first list. */
  readonly resourceVersion: string | undefined;
}

/** The two calls a watcher needs; a KubeClient fits, and so does a test double. */
export type WatchClient = Pick<KubeClient, 'list' | 'watch'>;

export function watcher(client: WatchClient, spec: WatcherSpec, options: WatcherOptions = {}): Watcher {
  const stats: WatcherStats = {
    lists: 0,
    watchLists: 0,
    watchListFallbacks: 0,
    listPages: 0,
    relists: 0,
    listRestarts: 0,
    watchesStarted: 0,
    reconnects: 0,
    events: 0,
    bookmarks: 0,
    stalls: 0,
    probes: 0,
    frozen: 0,
    gone: 0,
    errors: 0,
  };
  const state: { resourceVersion: string | undefined } = { resourceVersion: undefined };
  return {
    stats,
    get resourceVersion() {
      return state.resourceVersion;
    },
    [Symbol.asyncIterator]: () => run(client, spec, options, stats, state),
  };
}

async function* run(
  client: WatchClient,
  spec: WatcherSpec,
  options: WatcherOptions,
  stats: WatcherStats,
  state: { resourceVersion: string | undefined },
): AsyncGenerator<WatcherEvent> {
  const logger = options.logger ?? silentLogger;
  const random = options.random ?? Math.random;
  const now = options.now ?? Date.now;
  const signal = options.signal;
  const pageSize = options.pageSize ?? 500;
  const minTimeout = options.minWatchTimeoutSeconds ?? 300;
  const maxTimeout = options.maxWatchTimeoutSeconds ?? 600;
  const watchdogMs = options.watchdogMs ?? 120_000;
  const minHealthyWatchMs = options.minHealthyWatchMs ?? 1000;
  const probeIntervalMs = options.probeIntervalMs ?? 10_000;
  const probeTimeoutMs = options.probeTimeoutMs ?? 5000;
  const backoff = new Backoff({ now, random, ...options.backoff });
  const where = { resource: spec.resource.plural, namespace: spec.namespace, labelSelector: spec.labelSelector };
  const selectors = {
    ...(spec.namespace !== undefined ? { namespace: spec.namespace } : {}),
    ...(spec.labelSelector !== undefined ? { labelSelector: spec.labelSelector } : {}),
    ...(spec.fieldSelector !== undefined ? { fieldSelector: spec.fieldSelector } : {}),
  };
  let needList = true;
  let watchedSinceList = false;
  /** False once the server refused a watch-list, or after one failed: the next initial sync lists. */
  let watchListSupported = (options.initialSync ?? 'watch-list') === 'watch-list';
  let watchListNext = watchListSupported;

  const pause = async (err: unknown) => {
    const delay = backoff.failure(retryAfterMsOf(err) ?? 0);
    logger.debug({ ...where, delayMs: delay }, 'watch backing off');
    await sleep(delay, signal);
  };

  while (signal?.aborted !== true) {
    if (needList && !watchListNext) {
      try {
        stats.lists++;
        if (stats.lists > 1) stats.relists++;
        yield { type: 'init' };
        let continueToken: string | undefined;
        let paginate = true;
        for (;;) {
          let page: Awaited<ReturnType<WatchClient['list']>>;
          try {
            page = await client.list(spec.resource, {
              ...selectors,
              ...(paginate ? { limit: pageSize } : {}),
              ...(continueToken !== undefined ? { continue: continueToken } : {}),
              ...(signal !== undefined ? { signal } : {}),
            });
          } catch (err) {
            if (continueToken === undefined || !isWrError(err, 'WR_KUBE_GONE')) throw err;
            // The continue token outlived etcd compaction: start over with one unpaginated consistent read.
            stats.listRestarts++;
            logger.info(where, 'list continue token expired; restarting the list without pagination');
            continueToken = undefined;
            paginate = false;
            yield { type: 'init' };
            continue;
          }
          stats.listPages++;
          for (const object of page.items) yield { type: 'initApply', object };
          const next = page.metadata.continue;
          if (paginate && next !== undefined && next !== '') {
            continueToken = next;
            continue;
          }
          const rv = page.metadata.resourceVersion;
          if (rv === undefined || rv === '') throw new WrError('WR_KUBE_REQUEST', 'list answer has no resourceVersion');
          state.resourceVersion = rv;
          break;
        }
        yield { type: 'initDone', resourceVersion: state.resourceVersion };
        needList = false;
        watchedSinceList = false;
        watchListNext = watchListSupported;
        backoff.healthy();
      } catch (err) {
        if (signal?.aborted) return;
        stats.errors++;
        logger.warn({ ...where, ...describe(err) }, 'list failed');
        await pause(err);
        continue;
      }
    }

    const ctl = new AbortController();
    const watchSignal = signal === undefined ? ctl.signal : AbortSignal.any([signal, ctl.signal]);
    let watchdog: ReturnType<typeof setTimeout> | undefined;
    let probeTimer: ReturnType<typeof setTimeout> | undefined;
    /** Events and bookmarks read from this watch: a probe compares it before and after. */
    let heard = 0;
    let streaming = false;
    const disarm = () => {
      clearTimeout(watchdog);
      clearTimeout(probeTimer);
    };
    const arm = () => {
      disarm();
      watchdog = setTimeout(
        () => ctl.abort(new WrError('WR_WATCH_STALLED', `no watch event or bookmark within ${watchdogMs} ms`)),
        watchdogMs,
      );
      if (streaming && probeIntervalMs > 0) probeTimer = setTimeout(() => void probe(), probeIntervalMs);
    };
    // Is the silence an idle resource or a frozen connection? Ask the server again, on a new connection.
    const probe = async () => {
      if (watchSignal.aborted) return;
      const from = state.resourceVersion;
      const before = heard;
      stats.probes++;
      const probeCtl = new AbortController();
      const timer = setTimeout(
        () => probeCtl.abort(new WrError('WR_KUBE_UNAVAILABLE', `watch probe: no answer within ${probeTimeoutMs} ms`)),
        probeTimeoutMs,
      );
      let missed = false;
      let gone = false;
      try {
        const probeStream = await client.watch(spec.resource, {
          ...selectors,
          resourceVersion: from,
          allowWatchBookmarks: false,
          timeoutSeconds: 1,
          signal: AbortSignal.any([watchSignal, probeCtl.signal]),
        });
        // Read to the server's end of the probe (1 s): a live watch gets the same changes within that time.
        for await (const event of probeStream) if (event.type !== 'BOOKMARK') missed = true;
      } catch (err) {
        // An expired resourceVersion would also stop the running watch at its next reconnect: resume now.
        if (isWrError(err, 'WR_KUBE_GONE')) gone = true;
        else if (!watchSignal.aborted) logger.debug({ ...where, ...describe(err) }, 'watch probe failed');
      } finally {
        clearTimeout(timer);
        probeCtl.abort();
      }
      if (watchSignal.aborted || heard !== before) return; // gone, or alive: arm() already rescheduled us
      if (missed || gone) {
        stats.frozen++;
        ctl.abort(
          new WrError(
            'WR_WATCH_STALLED',
            gone
              ? `watch silent for ${probeIntervalMs} ms and its resourceVersion expired`
              : `watch silent while a probe on a new connection saw changes it has not delivered`,
          ),
        );
        return;
      }
      arm();
    };
    const startedAt = now();
    let delivered = 0;
    /** A watch-list until its initial events end: objects form a new list, and no resourceVersion is kept. */
    let initializing = needList;
    /** Bounds a watch-list whose end never comes (a server that ignores sendInitialEvents keeps sending bookmarks). */
    let initTimer: ReturnType<typeof setTimeout> | undefined;
    try {
      stats.watchesStarted++;
      if (initializing) {
        stats.lists++;
        stats.watchLists++;
        if (stats.lists > 1) stats.relists++;
        initTimer = setTimeout(
          () =>
            ctl.abort(
              new WrError('WR_WATCH_STALLED', `watch-list: initial events did not end within ${watchdogMs} ms`),
            ),
          watchdogMs,
        );
      } else if (watchedSinceList) stats.reconnects++;
      watchedSinceList = true;
      arm();
      const stream = await client.watch(spec.resource, {
        ...selectors,
        ...(initializing
          ? { sendInitialEvents: true, resourceVersionMatch: 'NotOlderThan' as const }
          : { resourceVersion: state.resourceVersion }),
        allowWatchBookmarks: true,
        timeoutSeconds: minTimeout + Math.floor(random() * (maxTimeout - minTimeout + 1)),
        signal: watchSignal,
      });
      // `init` once the server accepted the watch-list: a refused one leaves the store alone.
      if (initializing) yield { type: 'init' };
      streaming = !initializing;
      arm();
      backoff.healthy();
      for await (const event of stream) {
        heard++;
        const rv = event.object.metadata?.resourceVersion;
        if (initializing) {
          if (event.type !== 'BOOKMARK') {
            if (event.type === 'DELETED') continue;
            disarm();
            yield { type: 'initApply', object: event.object };
            arm();
            continue;
          }
          if (event.object.metadata?.annotations?.[INITIAL_EVENTS_END] !== 'true') {
            arm();
            continue;
          }
          if (typeof rv !== 'string' || rv === '') {
            throw new WrError('WR_KUBE_REQUEST', 'watch-list: the initial-events-end bookmark has no resourceVersion');
          }
          clearTimeout(initTimer);
          state.resourceVersion = rv;
          initializing = false;
          needList = false;
          watchListNext = watchListSupported;
          stats.bookmarks++;
          yield { type: 'initDone', resourceVersion: rv };
          streaming = true;
          arm();
          continue;
        }
        if (typeof rv === 'string' && rv !== '') state.resourceVersion = rv;
        if (event.type === 'BOOKMARK') {
          stats.bookmarks++;
          arm();
          continue;
        }
        stats.events++;
        delivered++;
        // The watchdog and probe measure the server, not a slow consumer: they sleep while the event is handed over.
        disarm();
        yield event.type === 'DELETED'
          ? { type: 'delete', object: event.object }
          : { type: 'apply', object: event.object };
        arm();
      }
      if (initializing) throw new WrError('WR_KUBE_UNAVAILABLE', 'watch-list ended before its initial events did');
      if (delivered === 0 && now() - startedAt < minHealthyWatchMs) {
        throw new WrError('WR_KUBE_UNAVAILABLE', 'watch closed immediately without delivering anything');
      }
      logger.debug({ ...where, resourceVersion: state.resourceVersion }, 'watch ended; resuming');
    } catch (err) {
      if (signal?.aborted) return;
      if (initializing) {
        // As client-go: the next initial sync is a paginated list. A refusal of the parameters (400/422,
        // a server without the feature) means this server never will: lists from now on.
        stats.watchListFallbacks++;
        watchListNext = false;
        if (isWrError(err, 'WR_KUBE_INVALID')) watchListSupported = false;
        logger.info({ ...where, ...describe(err) }, 'watch-list failed before its initial events ended; listing');
        if (!watchListSupported) continue;
        stats.errors++;
        await pause(err);
        continue;
      }
      if (isWrError(err, 'WR_KUBE_GONE')) {
        stats.gone++;
        needList = true;
        logger.info({ ...where, resourceVersion: state.resourceVersion }, 'resourceVersion expired; relisting');
      } else {
        stats.errors++;
        if (isWrError(err, 'WR_WATCH_STALLED')) stats.stalls++;
        logger.warn({ ...where, ...describe(err), resourceVersion: state.resourceVersion }, 'watch failed; resuming');
      }
      await pause(err);
    } finally {
      disarm();
      clearTimeout(initTimer);
      ctl.abort(new WrError('WR_KUBE_UNAVAILABLE', 'watch released'));
    }
  }
}

/** Log fields of a failure: its stable code and message first, then whatever details it carries. */
function describe(err: unknown): Record<string, unknown> {
  return { ...(err instanceof WrError ? err.details : {}), ...errorFields(err) };
}

/** Resolves after `ms`, or early (without error) when the watcher is stopped. */
function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) {
      resolve();
      return;
    }
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}
