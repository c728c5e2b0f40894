// reflector(): feeds a watcher's events into a store writer and reports when the first list is in.

import type { KubeObject } from '../abi/types.ts';
import { errorFields, WrError } from '../errors.ts';
import { type Logger, silentLogger } from '../kube/logger.ts';
import type { Watcher, WatcherStats } from './watcher.ts';

/** The writes a reflector performs; the cache's StoreWriter fits. */
export interface ReflectorWriter {
  apply(obj: KubeObject): void;
  delete(obj: KubeObject): void;
  resync(): { add(obj: KubeObject): void; commit(): void };
}

export interface Reflector {
  readonly hasSynced: boolean;
  /** Resolves after the first complete list is committed; rejects if the watcher ends before that. */
  readonly synced: Promise<void>;
  /** Settles when the watcher ends (its signal was aborted). Never rejects. */
  readonly done: Promise<void>;
  readonly stats: Readonly<WatcherStats>;
}

export interface ReflectorOptions {
  readonly logger?: Logger;
  /** Included in logs, e.g. the resource and scope. */
  readonly name?: string;
}

/**
 * Runs until the watcher ends, which happens when the signal given to `watcher()` is aborted. A write
 * that throws (a malformed object) is logged and skipped: one bad object never stops the cache.
 */
export function reflector(writer: ReflectorWriter, source: Watcher, options: ReflectorOptions = {}): Reflector {
  const logger = options.logger ?? silentLogger;
  let hasSynced = false;
  let resolveSynced: () => void = () => {};
  let rejectSynced: (err: unknown) => void = () => {};
  const synced = new Promise<void>((resolve, reject) => {
    resolveSynced = resolve;
    rejectSynced = reject;
  });
  // Nobody may be waiting; a stop before the first list must not become an unhandled rejection.
  synced.catch(() => {});

  const guarded = (what: string, fn: () => void) => {
    try {
      fn();
    } catch (err) {
      logger.error({ reflector: options.name, ...errorFields(err) }, `reflector skipped a ${what} it could not store`);
    }
  };

  const done = (async () => {
    let resync: ReturnType<ReflectorWriter['resync']> | undefined;
    try {
      for await (const event of source) {
        switch (event.type) {
          case 'init':
            resync = writer.resync();
            break;
          case 'initApply':
            guarded('listed object', () => resync?.add(event.object));
            break;
          case 'initDone':
            resync?.commit();
            resync = undefined;
            if (!hasSynced) {
              hasSynced = true;
              resolveSynced();
            }
            break;
          case 'apply':
            guarded('watched object', () => writer.apply(event.object));
            break;
          case 'delete':
            guarded('deleted object', () => writer.delete(event.object));
            break;
        }
      }
    } catch (err) {
      // The watcher handles every API failure itself; reaching here means a bug, which is logged, not thrown.
      logger.error({ reflector: options.name, ...errorFields(err) }, 'reflector ended');
    } finally {
      if (!hasSynced) {
        rejectSynced(new WrError('WR_KUBE_UNAVAILABLE', 'the reflector stopped before its first list completed'));
      }
    }
  })();

  return {
    get hasSynced() {
      return hasSynced;
    },
    synced,
    done,
    stats: source.stats,
  };
}
