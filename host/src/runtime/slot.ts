// The hot-swappable home of one reconciler's module: validated load, atomic swap, drain of the old version.
//
// Contract (docs/runtime.md): a new version is compiled, checked, instantiated and initialised before it
// can serve; the swap is one assignment; each call leases the version that is active when it starts and
// finishes there, so no call is lost, run twice, or moved between versions; a version that fails any
// step never replaces the one that serves.

import { EXPORTS } from '../abi/constants.ts';
import { encodeInitInput } from '../abi/encode.ts';
import type { ReconcileOutput } from '../abi/types.ts';
import { isWrError, WrError } from '../errors.ts';
import type { GuestCallExport } from './instance.ts';
import { InstancePool } from './internal/pool.ts';
import { type LimitOverrides, type RuntimeLimits, resolveLimits } from './limits.ts';
import type { CompiledModule, ModuleLoader } from './loader.ts';
import type { CallEvent, CallObserver, GuestLogger, ReadPort } from './ports.ts';
import { type GuestWorkerPool, type RemoteInstance, sharedWorkerPool } from './workers/worker-pool.ts';

export interface SlotOptions {
  /** The reconciler this slot serves; passed to wr_init and bound to guest logs. */
  readonly identity: { readonly name: string; readonly namespace?: string };
  readonly loader: ModuleLoader;
  readonly logger: GuestLogger;
  readonly readPort: ReadPort;
  /** Defaults for every load; a load may override them. */
  readonly limits?: LimitOverrides;
  /** Instances per version: the most calls that can be waiting on instantiation at once. Default 2. */
  readonly maxInstances?: number;
  readonly observer?: CallObserver;
  /** Where the guests run; default: the process-wide pool (sharedWorkerPool). */
  readonly workers?: GuestWorkerPool;
}

export interface LoadResult {
  readonly digest: string;
  readonly generation: number;
  /** False when the same digest, config and limits were already active (nothing was swapped). */
  readonly swapped: boolean;
}

export interface VersionStats {
  readonly digest: string;
  readonly generation: number;
  readonly state: 'active' | 'draining';
  readonly calls: number;
  readonly failures: number;
  readonly inFlight: number;
  readonly fuelUsed: number;
  readonly instancesCreated: number;
  readonly instancesDiscarded: number;
}

class Version {
  readonly compiled: CompiledModule;
  readonly generation: number;
  /** Identifies what was loaded besides the bytes: config and limits. */
  readonly key: string;
  readonly pool: InstancePool<RemoteInstance>;
  readonly drained: Promise<void>;
  readonly #onDrained: () => void;
  calls = 0;
  failures = 0;
  inFlight = 0;
  fuelUsed = 0;
  retired = false;

  constructor(
    compiled: CompiledModule,
    generation: number,
    key: string,
    create: (v: Version) => Promise<RemoteInstance>,
    max: number,
  ) {
    this.compiled = compiled;
    this.generation = generation;
    this.key = key;
    this.pool = new InstancePool(() => create(this), max);
    const { promise, resolve } = Promise.withResolvers<void>();
    this.drained = promise;
    this.#onDrained = resolve;
  }

  /** Frees the instances once retired and idle; the last lease to end triggers it. */
  disposeIfDrained(): void {
    if (this.retired && this.inFlight === 0) {
      this.pool.close();
      this.#onDrained();
    }
  }

  stats(): VersionStats {
    return {
      digest: this.compiled.digest,
      generation: this.generation,
      state: this.retired ? 'draining' : 'active',
      calls: this.calls,
      failures: this.failures,
      inFlight: this.inFlight,
      fuelUsed: this.fuelUsed,
      instancesCreated: this.pool.created,
      instancesDiscarded: this.pool.discarded,
    };
  }
}

/** The answer of finalize for a version without wr_finalize: nothing to clean up, so let the object go. */
const NOTHING_TO_FINALIZE: ReconcileOutput = Object.freeze({ finalizer: 'release' });

export class ModuleSlot {
  readonly #options: SlotOptions;
  readonly #baseLimits: LimitOverrides;
  readonly #maxInstances: number;
  readonly #workers: GuestWorkerPool;
  readonly #draining = new Set<Version>();
  #active: Version | undefined;
  #previousDigest: string | undefined;
  #generation = 0;
  #loads: Promise<unknown> = Promise.resolve();
  #closed = false;

  constructor(options: SlotOptions) {
    this.#options = options;
    this.#baseLimits = options.limits ?? {};
    // Fails fast on bad defaults instead of at the first load.
    resolveLimits(this.#baseLimits);
    this.#maxInstances = options.maxInstances ?? 2;
    this.#workers = options.workers ?? sharedWorkerPool();
  }

  get activeDigest(): string | undefined {
    return this.#active?.compiled.digest;
  }

  /** The digest that served before the last swap (the "previous good" version). */
  get previousDigest(): string | undefined {
    return this.#previousDigest;
  }

  /** Number of swaps so far; 0 until the first load succeeds. */
  get generation(): number {
    return this.#generation;
  }

  get hasFinalize(): boolean {
    return this.#active?.compiled.hasFinalize ?? false;
  }

  /** The active version first, then versions still draining. */
  stats(): VersionStats[] {
    const versions = this.#active === undefined ? [] : [this.#active];
    return [...versions, ...this.#draining].map((v) => v.stats());
  }

  /**
   * Makes `bytes` with `config` the active version once it is compiled, checked and has passed wr_init.
   * Loads run one at a time in call order. On failure the active version keeps serving and the typed
   * error (WR_MODULE_*, WR_GUEST_INIT_FAILED, WR_SPEC_INVALID) is thrown.
   */
  load(bytes: Uint8Array, config: unknown, limits: LimitOverrides = {}): Promise<LoadResult> {
    const run = this.#loads.then(() => this.#load(bytes, config, limits));
    this.#loads = run.catch(() => undefined);
    return run;
  }

  async #load(bytes: Uint8Array, config: unknown, overrides: LimitOverrides): Promise<LoadResult> {
    this.#assertOpen();
    const limits = resolveLimits(this.#baseLimits, overrides);
    const initInput = encodeInitInput(this.#options.identity, config);
    const compiled = await this.#options.loader.load(bytes, limits);
    const key = `${initInput}\n${JSON.stringify(limits)}`;
    const active = this.#active;
    if (active !== undefined && active.compiled.digest === compiled.digest && active.key === key) {
      return { digest: compiled.digest, generation: this.#generation, swapped: false };
    }
    const version = new Version(
      compiled,
      this.#generation + 1,
      key,
      (v) => this.#instantiate(v, initInput, limits),
      this.#maxInstances,
    );
    try {
      await version.pool.warm();
      this.#assertOpen();
    } catch (err) {
      version.pool.close();
      throw err;
    }
    // The swap: from here on every new call leases `version`; calls already holding `active` finish there.
    this.#generation = version.generation;
    this.#active = version;
    if (active !== undefined) {
      this.#previousDigest = active.compiled.digest;
      this.#retire(active);
    }
    return { digest: compiled.digest, generation: version.generation, swapped: true };
  }

  #instantiate(version: Version, initInput: string, limits: RuntimeLimits): Promise<RemoteInstance> {
    const user = this.#options.observer;
    const { name, namespace } = this.#options.identity;
    return this.#workers.instantiate(version.compiled, {
      initInput,
      limits,
      logger: this.#options.logger,
      logBindings: {
        reconciler: name,
        ...(namespace === undefined ? {} : { namespace }),
        digest: version.compiled.digest,
      },
      readPort: this.#options.readPort,
      observer: {
        onCall(event: CallEvent) {
          version.fuelUsed += event.fuelUsed;
          user?.onCall(event);
        },
      },
    });
  }

  #retire(version: Version): void {
    version.retired = true;
    this.#draining.add(version);
    void version.drained.then(() => this.#draining.delete(version));
    version.disposeIfDrained();
  }

  #assertOpen(): void {
    if (this.#closed) throw new WrError('WR_SLOT_CLOSED', `the slot of ${this.#options.identity.name} is closed`);
  }

  /**
   * Runs one reconcile or finalize on the version active right now. The version is leased synchronously,
   * before anything awaits, so a swap that completes after this call started does not move it.
   */
  async call(name: GuestCallExport, input: string): Promise<ReconcileOutput> {
    this.#assertOpen();
    const version = this.#active;
    if (version === undefined) {
      throw new WrError('WR_SLOT_EMPTY', `no module version is active for ${this.#options.identity.name}`);
    }
    version.calls++;
    if (name === EXPORTS.finalize && !version.compiled.hasFinalize) return NOTHING_TO_FINALIZE;
    version.inFlight++;
    try {
      return await this.#run(version, name, input);
    } catch (err) {
      version.failures++;
      throw err;
    } finally {
      version.inFlight--;
      version.disposeIfDrained();
    }
  }

  /**
   * A call that never started because a neighbour's call took its worker down is run again on a fresh
   * instance: a guest that stalls its worker must not fail the calls queued behind it. Three times at most,
   * so a call cannot circle forever while neighbours keep killing workers.
   */
  async #run(version: Version, name: GuestCallExport, input: string): Promise<ReconcileOutput> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await version.pool.run((i) => i.call(name, input));
      } catch (err) {
        const notStarted = isWrError(err, 'WR_GUEST_WORKER_EXITED') && err.details?.started === false;
        if (!notStarted || attempt >= 3) throw err;
      }
    }
  }

  /** Stops accepting calls and loads; resolves when every in-flight call has finished. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#loads;
    const active = this.#active;
    this.#active = undefined;
    if (active !== undefined) this.#retire(active);
    await Promise.all([...this.#draining].map((v) => v.drained));
  }
}
