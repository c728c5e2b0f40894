// KubeClient: typed JSON requests and streaming watches against the API server over a pluggable transport.

import { setMaxListeners } from 'node:events';
import type { KubeObject } from '../abi/types.ts';
import { isWrError, WrError } from '../errors.ts';
import { Discovery, type DiscoveryOptions } from './discovery.ts';
import { apiVersionOf, gvkOf } from './gvk.ts';
import { lines } from './internal/lines.ts';
import {
  errorFromKubeStatus,
  errorFromStatus,
  errorFromTransport,
  type KubeStatus,
  type RequestContext,
  retryAfterMsOf,
} from './internal/status.ts';
import type { KubeConfigView } from './kubeconfig.ts';
import { type ApiResource, collectionPath, objectPath, type QueryValue, withQuery } from './paths.ts';
import { kubeConfigTransport, type Transport } from './transport.ts';

export interface KubeList {
  apiVersion?: string;
  kind?: string;
  metadata: { resourceVersion?: string; continue?: string; remainingItemCount?: number };
  items: KubeObject[];
}

/** One decoded watch event. ERROR events never appear: the stream throws them as WrErrors instead. */
export interface WatchEvent {
  readonly type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK';
  readonly object: KubeObject;
}

/** A running watch: iterate it for events; `close()` (or leaving a for-await loop) ends the request. */
export interface WatchStream extends AsyncIterable<WatchEvent> {
  close(): void;
}

export interface KubeClientOptions {
  /** Whole-exchange limit for ordinary requests (headers and body). */
  readonly requestTimeoutMs?: number;
  /** How long a watch may take to answer with headers; the body itself is open-ended (see the watcher's watchdog). */
  readonly watchConnectTimeoutMs?: number;
  /** Extra attempts when the server answers 429/5xx with Retry-After, which promises it did not act. */
  readonly maxRetries?: number;
  /** Longest Retry-After wait honoured inside one call; longer hints are returned to the caller in the error. */
  readonly maxRetryWaitMs?: number;
  readonly maxResponseBytes?: number;
  /** Longest single watch event, in characters of its JSON line; longer ones fail the watch (WR_KUBE_REQUEST). */
  readonly maxEventChars?: number;
  readonly userAgent?: string;
  readonly discovery?: DiscoveryOptions;
  /**
   * Once aborted, no write request (anything but GET/HEAD) leaves the process: each fails with
   * WR_LEADERSHIP_LOST right before it would be sent, and writes in flight are aborted. Reads go on.
   */
  readonly writeFence?: AbortSignal;
}

export interface ListOptions {
  readonly namespace?: string;
  readonly labelSelector?: string;
  readonly fieldSelector?: string;
  readonly limit?: number;
  readonly continue?: string;
  readonly resourceVersion?: string;
  readonly resourceVersionMatch?: 'Exact' | 'NotOlderThan';
  readonly signal?: AbortSignal;
}

export interface WatchOptions {
  readonly namespace?: string;
  readonly labelSelector?: string;
  readonly fieldSelector?: string;
  readonly resourceVersion?: string;
  readonly allowWatchBookmarks?: boolean;
  /**
   * A streaming watch-list: the server first sends every existing object as ADDED, then a BOOKMARK
   * annotated INITIAL_EVENTS_END, then live changes. Needs resourceVersionMatch (NotOlderThan) too.
   */
  readonly sendInitialEvents?: boolean;
  readonly resourceVersionMatch?: 'NotOlderThan' | 'Exact';
  /** Asks the server to end the watch cleanly after this long; the client then resumes. */
  readonly timeoutSeconds?: number;
  readonly signal?: AbortSignal;
}

export interface ApplyOptions {
  readonly fieldManager: string;
  readonly force?: boolean;
  readonly subresource?: string;
  readonly dryRun?: boolean;
  readonly signal?: AbortSignal;
}

export interface WriteOptions {
  readonly fieldManager?: string;
  readonly dryRun?: boolean;
  readonly signal?: AbortSignal;
}

export interface DeleteOptions {
  readonly propagationPolicy?: 'Foreground' | 'Background' | 'Orphan';
  readonly gracePeriodSeconds?: number;
  /** Delete only this incarnation / version of the object (guards against deleting a re-created namesake). */
  readonly preconditions?: { uid?: string; resourceVersion?: string };
  readonly dryRun?: boolean;
  readonly signal?: AbortSignal;
}

export interface RequestOptions {
  readonly query?: Readonly<Record<string, QueryValue>>;
  readonly body?: unknown;
  readonly contentType?: string;
  readonly signal?: AbortSignal;
  readonly timeoutMs?: number;
}

/** The annotation on the BOOKMARK that ends a watch-list's initial events (WatchOptions.sendInitialEvents). */
export const INITIAL_EVENTS_END = 'k8s.io/initial-events-end';
const JSON_TYPE = 'application/json';
/** Lets withWriteFence() share one discovery cache between views of the same transport. */
const SHARED_DISCOVERY = Symbol('sharedDiscovery');
const READ_METHODS = new Set(['GET', 'HEAD']);
const APPLY_TYPE = 'application/apply-patch+yaml';

export class KubeClient {
  readonly discovery: Discovery;
  readonly #transport: Transport;
  readonly #requestTimeoutMs: number;
  readonly #watchConnectTimeoutMs: number;
  readonly #maxRetries: number;
  readonly #maxRetryWaitMs: number;
  readonly #maxResponseBytes: number;
  readonly #maxEventChars: number;
  readonly #userAgent: string;
  readonly #options: KubeClientOptions;
  readonly #writeFence: AbortSignal | undefined;

  constructor(transport: Transport, options: KubeClientOptions & { [SHARED_DISCOVERY]?: Discovery } = {}) {
    this.#options = options;
    this.#writeFence = options.writeFence;
    this.#transport = transport;
    this.#requestTimeoutMs = options.requestTimeoutMs ?? 30_000;
    this.#watchConnectTimeoutMs = options.watchConnectTimeoutMs ?? 30_000;
    this.#maxRetries = options.maxRetries ?? 3;
    this.#maxRetryWaitMs = options.maxRetryWaitMs ?? 10_000;
    this.#maxResponseBytes = options.maxResponseBytes ?? 256 * 1024 * 1024;
    this.#maxEventChars = options.maxEventChars ?? 16 * 1024 * 1024;
    this.#userAgent = options.userAgent ?? 'wasm-reconciler';
    this.discovery = options[SHARED_DISCOVERY] ?? new Discovery((path) => this.request('GET', path), options.discovery);
  }

  /**
   * A view of this client on the same connections and discovery cache whose writes stop once `fence` is
   * aborted (see KubeClientOptions.writeFence). Closing the view closes the shared transport.
   */
  withWriteFence(fence: AbortSignal): KubeClient {
    // Every write in flight listens on the fence for its duration (see deadline()): as many listeners as
    // concurrent writes, which is not the leak Node's listener-count warning looks for.
    setMaxListeners(0, fence);
    return new KubeClient(this.#transport, { ...this.#options, writeFence: fence, [SHARED_DISCOVERY]: this.discovery });
  }

  /** The usual entry point: TLS and credentials from a kubeconfig, `server` to dial elsewhere (a proxy). */
  static async fromKubeConfig(
    kc: KubeConfigView,
    options: KubeClientOptions & { server?: string; servername?: string } = {},
  ): Promise<KubeClient> {
    const { server, servername, ...rest } = options;
    const transport = await kubeConfigTransport(kc, {
      ...(server !== undefined ? { server } : {}),
      ...(servername !== undefined ? { servername } : {}),
    });
    return new KubeClient(transport, rest);
  }

  close(): void {
    this.#transport.close();
  }

  /** Resolves "apps/v1" + "Deployment" to its resource through discovery. */
  async resource(apiVersion: string, kind: string): Promise<ApiResource> {
    return this.discovery.resolve(gvkOf({ apiVersion, kind }));
  }

  /** One JSON exchange. Retries only where the server promised it did nothing (Retry-After on 429/5xx). */
  async request<T = unknown>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    const fullPath = options.query === undefined ? path : withQuery(path, options.query);
    const ctx: RequestContext = { method, path: fullPath };
    const body = options.body === undefined ? undefined : JSON.stringify(options.body);
    const fence = READ_METHODS.has(method) ? undefined : this.#writeFence;
    // The caller's signal and the fence are followed side by side, not merged by AbortSignal.any: a
    // composite signal is tracked through weak references, which cost every write measurable CPU.
    const signals = [options.signal, fence].filter((s): s is AbortSignal => s !== undefined);
    for (let attempt = 0; ; attempt++) {
      try {
        // The last moment before the request leaves: a fenced write is never sent.
        if (fence?.aborted) throw fencedError(fence, ctx);
        return (await this.#exchange(ctx, body, options, signals)) as T;
      } catch (err) {
        const wait = retryAfterMsOf(err);
        const retry =
          isWrError(err, 'WR_KUBE_UNAVAILABLE') &&
          wait !== undefined &&
          wait <= this.#maxRetryWaitMs &&
          attempt < this.#maxRetries;
        if (!retry) throw fence?.aborted ? fencedError(fence, ctx) : err;
        await sleep(wait, signals);
      }
    }
  }

  async #exchange(
    ctx: RequestContext,
    body: string | undefined,
    options: RequestOptions,
    signals: readonly AbortSignal[],
  ): Promise<unknown> {
    const timeoutMs = options.timeoutMs ?? this.#requestTimeoutMs;
    const { signal, dispose } = deadline(signals, timeoutMs, ctx);
    try {
      let res: Awaited<ReturnType<Transport['request']>>;
      try {
        res = await this.#transport.request({
          method: ctx.method,
          path: ctx.path,
          headers: this.#headers(body === undefined ? undefined : (options.contentType ?? JSON_TYPE)),
          ...(body !== undefined ? { body } : {}),
          signal,
        });
      } catch (err) {
        throw errorFromTransport(signal.aborted ? signal.reason : err, ctx);
      }
      const text = await this.#readBody(res, ctx, signal);
      if (res.status < 200 || res.status >= 300) {
        throw errorFromStatus(res.status, text, res.headers['retry-after'], ctx);
      }
      if (text.length === 0) return undefined;
      try {
        return JSON.parse(text);
      } catch (cause) {
        throw new WrError('WR_KUBE_REQUEST', `${ctx.method} ${ctx.path}: answer is not JSON`, {
          cause,
          details: { httpStatus: res.status },
        });
      }
    } finally {
      dispose();
    }
  }

  async #readBody(
    res: Awaited<ReturnType<Transport['request']>>,
    ctx: RequestContext,
    signal: AbortSignal,
  ): Promise<string> {
    const chunks: Buffer[] = [];
    let size = 0;
    try {
      for await (const chunk of res.body) {
        size += chunk.length;
        if (size > this.#maxResponseBytes) {
          res.destroy();
          throw new WrError(
            'WR_KUBE_REQUEST',
            `${ctx.method} ${ctx.path}: answer exceeds ${this.#maxResponseBytes} bytes`,
          );
        }
        chunks.push(chunk);
      }
    } catch (err) {
      throw errorFromTransport(signal.aborted ? signal.reason : err, ctx);
    }
    return Buffer.concat(chunks, size).toString('utf8');
  }

  #headers(contentType: string | undefined): Record<string, string> {
    const headers: Record<string, string> = { Accept: JSON_TYPE, 'User-Agent': this.#userAgent };
    if (contentType !== undefined) headers['Content-Type'] = contentType;
    return headers;
  }

  async get(res: ApiResource, namespace: string | undefined, name: string, signal?: AbortSignal): Promise<KubeObject> {
    return this.request<KubeObject>('GET', objectPath(res, namespace, name), signalOnly(signal));
  }

  /** One page of a list. Items get apiVersion/kind filled in (typed lists omit them) so each stands alone. */
  async list(res: ApiResource, options: ListOptions = {}): Promise<KubeList> {
    const list = await this.request<KubeList>('GET', collectionPath(res, options.namespace), {
      query: {
        labelSelector: options.labelSelector,
        fieldSelector: options.fieldSelector,
        limit: options.limit,
        continue: options.continue,
        resourceVersion: options.resourceVersion,
        resourceVersionMatch: options.resourceVersionMatch,
      },
      ...signalOnly(options.signal),
    });
    if (list === undefined || list === null || !Array.isArray(list.items) || typeof list.metadata !== 'object') {
      throw new WrError('WR_KUBE_REQUEST', `list of ${res.plural} is not a List object`);
    }
    const apiVersion = apiVersionOf(res);
    list.items = list.items.map((item) =>
      item.apiVersion === undefined || item.kind === undefined ? { ...item, apiVersion, kind: res.kind } : item,
    );
    return list;
  }

  /**
   * Starts a watch. Resolves once the server accepted it (HTTP errors such as 410 reject here); ERROR events
   * arriving later are thrown from the iterator as WrErrors (code 410 -> WR_KUBE_GONE).
   */
  async watch(res: ApiResource, options: WatchOptions = {}): Promise<WatchStream> {
    const path = withQuery(collectionPath(res, options.namespace), {
      watch: 'true',
      labelSelector: options.labelSelector,
      fieldSelector: options.fieldSelector,
      resourceVersion: options.resourceVersion,
      resourceVersionMatch: options.resourceVersionMatch,
      allowWatchBookmarks: options.allowWatchBookmarks,
      sendInitialEvents: options.sendInitialEvents,
      timeoutSeconds: options.timeoutSeconds,
    });
    const ctx: RequestContext = { method: 'GET', path };
    const local = new AbortController();
    const signal = options.signal === undefined ? local.signal : AbortSignal.any([options.signal, local.signal]);
    const connectTimer = setTimeout(
      () =>
        local.abort(
          new WrError('WR_KUBE_UNAVAILABLE', `watch ${path}: no answer within ${this.#watchConnectTimeoutMs} ms`),
        ),
      this.#watchConnectTimeoutMs,
    );
    let response: Awaited<ReturnType<Transport['request']>>;
    try {
      // A connection of its own: a watch must never inherit a pooled connection a dead path has frozen.
      response = await this.#transport.request({
        method: 'GET',
        path,
        headers: this.#headers(undefined),
        signal,
        dedicated: true,
      });
    } catch (err) {
      throw errorFromTransport(signal.aborted ? signal.reason : err, ctx);
    } finally {
      clearTimeout(connectTimer);
    }
    if (response.status !== 200) {
      const text = await this.#readBody(response, ctx, signal);
      throw errorFromStatus(response.status, text, response.headers['retry-after'], ctx);
    }
    const maxEventChars = this.#maxEventChars;
    const body = response.body;
    async function* events(): AsyncGenerator<WatchEvent> {
      try {
        for await (const line of lines(body, maxEventChars)) {
          let event: { type?: unknown; object?: unknown };
          try {
            event = JSON.parse(line);
          } catch (cause) {
            throw new WrError('WR_KUBE_REQUEST', `watch ${path}: event is not JSON`, { cause });
          }
          if (event.type === 'ERROR') {
            const status = (event.object ?? {}) as KubeStatus;
            throw errorFromKubeStatus(typeof status.code === 'number' ? status.code : 500, status, ctx);
          }
          if (
            (event.type !== 'ADDED' &&
              event.type !== 'MODIFIED' &&
              event.type !== 'DELETED' &&
              event.type !== 'BOOKMARK') ||
            event.object === null ||
            typeof event.object !== 'object'
          ) {
            throw new WrError('WR_KUBE_REQUEST', `watch ${path}: malformed event of type ${String(event.type)}`);
          }
          yield { type: event.type, object: event.object as KubeObject };
        }
      } catch (err) {
        if (signal.aborted) throw signal.reason;
        throw isWrError(err) ? err : errorFromTransport(err, ctx);
      } finally {
        response.destroy();
      }
    }
    const iterator = events();
    return {
      [Symbol.asyncIterator]: () => iterator,
      close: () => local.abort(new WrError('WR_KUBE_UNAVAILABLE', `watch ${path}: closed by the client`)),
    };
  }

  async create(res: ApiResource, obj: KubeObject, options: WriteOptions = {}): Promise<KubeObject> {
    return this.request<KubeObject>('POST', collectionPath(res, obj.metadata?.namespace), {
      query: { fieldManager: options.fieldManager, dryRun: options.dryRun ? 'All' : undefined },
      body: obj,
      ...signalOnly(options.signal),
    });
  }

  /** PUT with the object's resourceVersion: optimistic concurrency, 409 WR_KUBE_CONFLICT when stale. */
  async replace(res: ApiResource, obj: KubeObject, options: WriteOptions = {}): Promise<KubeObject> {
    return this.request<KubeObject>('PUT', objectPath(res, obj.metadata?.namespace, obj.metadata?.name), {
      query: { fieldManager: options.fieldManager, dryRun: options.dryRun ? 'All' : undefined },
      body: obj,
      ...signalOnly(options.signal),
    });
  }

  /** Server-side apply. JSON is valid YAML, so the object is sent as JSON under the apply-patch content type. */
  async apply(obj: KubeObject, options: ApplyOptions): Promise<KubeObject> {
    if (options.fieldManager === '') throw new WrError('WR_KUBE_INVALID', 'server-side apply needs a fieldManager');
    const res = await this.discovery.resolve(gvkOf(obj));
    return this.request<KubeObject>(
      'PATCH',
      objectPath(res, obj.metadata?.namespace, obj.metadata?.name, options.subresource),
      {
        query: {
          fieldManager: options.fieldManager,
          force: options.force === true ? 'true' : undefined,
          dryRun: options.dryRun ? 'All' : undefined,
        },
        body: obj,
        contentType: APPLY_TYPE,
        ...signalOnly(options.signal),
      },
    );
  }

  /** Applies `status` through the status subresource, owning only the fields given, as `fieldManager`. */
  async patchStatus(
    target: { apiVersion: string; kind: string; metadata: { name: string; namespace?: string } },
    status: Record<string, unknown>,
    options: Omit<ApplyOptions, 'subresource'>,
  ): Promise<KubeObject> {
    const metadata: KubeObject['metadata'] = { name: target.metadata.name };
    if (target.metadata.namespace !== undefined) metadata.namespace = target.metadata.namespace;
    return this.apply(
      { apiVersion: target.apiVersion, kind: target.kind, metadata, status },
      { ...options, subresource: 'status' },
    );
  }

  async delete(
    res: ApiResource,
    namespace: string | undefined,
    name: string,
    options: DeleteOptions = {},
  ): Promise<void> {
    const body: Record<string, unknown> = { apiVersion: 'v1', kind: 'DeleteOptions' };
    if (options.propagationPolicy !== undefined) body.propagationPolicy = options.propagationPolicy;
    if (options.gracePeriodSeconds !== undefined) body.gracePeriodSeconds = options.gracePeriodSeconds;
    if (options.preconditions !== undefined) body.preconditions = options.preconditions;
    if (options.dryRun) body.dryRun = ['All'];
    await this.request('DELETE', objectPath(res, namespace, name), { body, ...signalOnly(options.signal) });
  }
}

/** The error of a write the fence stopped: the fence's own reason when it is a WR_LEADERSHIP_LOST. */
function fencedError(fence: AbortSignal, ctx: RequestContext): WrError {
  if (isWrError(fence.reason, 'WR_LEADERSHIP_LOST')) return fence.reason;
  return new WrError('WR_LEADERSHIP_LOST', `${ctx.method} ${ctx.path}: writes are fenced`, {
    details: { method: ctx.method, path: ctx.path },
  });
}

function signalOnly(signal: AbortSignal | undefined): { signal?: AbortSignal } {
  return signal === undefined ? {} : { signal };
}

/**
 * A per-exchange deadline on top of `outers` (the caller's signal, a write fence), using timers that
 * t.mock.timers can drive. Followed by listeners removed on dispose rather than AbortSignal.any, whose
 * composite signals are tracked through weak references on every request.
 */
function deadline(
  outers: readonly AbortSignal[],
  timeoutMs: number,
  ctx: RequestContext,
): { signal: AbortSignal; dispose: () => void } {
  const local = new AbortController();
  const timer = setTimeout(
    () => local.abort(new WrError('WR_KUBE_UNAVAILABLE', `${ctx.method} ${ctx.path}: timed out after ${timeoutMs} ms`)),
    timeoutMs,
  );
  const onAbort = (event: Event) => local.abort((event.target as AbortSignal).reason);
  for (const outer of outers) {
    if (outer.aborted) local.abort(outer.reason);
    else outer.addEventListener('abort', onAbort, { once: true });
  }
  return {
    signal: local.signal,
    dispose: () => {
      clearTimeout(timer);
      for (const outer of outers) outer.removeEventListener('abort', onAbort);
    },
  };
}

function sleep(ms: number, signals: readonly AbortSignal[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const aborted = signals.find((s) => s.aborted);
    if (aborted !== undefined) {
      reject(aborted.reason);
      return;
    }
    const detach = () => {
      for (const s of signals) s.removeEventListener('abort', onAbort);
    };
    const onAbort = (event: Event) => {
      clearTimeout(timer);
      detach();
      reject((event.target as AbortSignal).reason);
    };
    const timer = setTimeout(() => {
      detach();
      resolve();
    }, ms);
    for (const s of signals) s.addEventListener('abort', onAbort, { once: true });
  });
}
