// The bench's own view of a namespace's Apps and ConfigMaps: when a controller first wrote, and when Apps settled.
//
// Event-driven (the caches' subscriptions), so a figure is timed when the watch delivers the change that
// completes it, not at the next poll. Settled is test/support/engine.ts's appSettled: status Ready for the
// current generation and the ConfigMap holding the current config, which is what a user waits for.

import type { CacheHandle, ReflectorRegistry } from '../../host/src/cache/index.ts';
import { APP_API_VERSION, APP_KIND } from '../../test/fixtures/native/app-reconciler.ts';
import { appSettled } from '../../test/support/engine.ts';

const CONFIG_SUFFIX = '-config';

export class Observer {
  readonly #namespace: string;
  readonly #apps: CacheHandle;
  readonly #configMaps: CacheHandle;
  readonly #unsubscribe: (() => void)[] = [];
  #waiters: { pending: Set<string>; generation: number; done: (at: number) => void }[] = [];
  #firstConfigMap: { name: string; done: (at: number) => void }[] = [];

  static async open(registry: ReflectorRegistry, namespace: string): Promise<Observer> {
    const apps = await registry.acquire({ apiVersion: APP_API_VERSION, kind: APP_KIND, namespace });
    const configMaps = await registry.acquire({ apiVersion: 'v1', kind: 'ConfigMap', namespace });
    await Promise.all([apps.synced, configMaps.synced]);
    return new Observer(namespace, apps, configMaps);
  }

  private constructor(namespace: string, apps: CacheHandle, configMaps: CacheHandle) {
    this.#namespace = namespace;
    this.#apps = apps;
    this.#configMaps = configMaps;
    this.#unsubscribe.push(
      apps.subscribe((event) => this.#changed(event.object.name), { replay: false }),
      configMaps.subscribe(
        (event) => {
          const name = event.object.name;
          const now = performance.now();
          for (const waiter of this.#firstConfigMap) if (waiter.name === name) waiter.done(now);
          this.#firstConfigMap = this.#firstConfigMap.filter((w) => w.name !== name);
          if (name.endsWith(CONFIG_SUFFIX)) this.#changed(name.slice(0, -CONFIG_SUFFIX.length));
        },
        { replay: false },
      ),
    );
  }

  /** Resolves with the time the ConfigMap `name` first shows up: an App's first write is its ConfigMap. */
  configMapAppears(name: string): Promise<number> {
    if (this.#configMaps.reader.get(this.#namespace, name) !== undefined) return Promise.resolve(performance.now());
    return new Promise((done) => this.#firstConfigMap.push({ name, done }));
  }

  /**
   * Resolves with the time the last of `names` settled at `generation` or later (at once, for those settled
   * already): an update wave waits for the generation its patches made, not for the state before them.
   */
  settled(names: Iterable<string>, generation = 1): Promise<number> {
    const pending = new Set(names);
    for (const name of pending) if (this.#isSettled(name, generation)) pending.delete(name);
    if (pending.size === 0) return Promise.resolve(performance.now());
    return new Promise((done) => this.#waiters.push({ pending, generation, done }));
  }

  /** How many of `names` are not settled at `generation`: what a timeout reports. */
  unsettled(names: Iterable<string>, generation = 1): number {
    let n = 0;
    for (const name of names) if (!this.#isSettled(name, generation)) n++;
    return n;
  }

  close(): void {
    for (const off of this.#unsubscribe) off();
    this.#apps.release();
    this.#configMaps.release();
  }

  #isSettled(name: string, generation: number): boolean {
    const app = this.#apps.reader.get(this.#namespace, name);
    if (app === undefined || (app.generation ?? 0) < generation) return false;
    return appSettled(app.object(), this.#configMaps.reader.get(this.#namespace, `${name}${CONFIG_SUFFIX}`)?.object());
  }

  #changed(name: string): void {
    if (this.#waiters.length === 0) return;
    const now = performance.now();
    this.#waiters = this.#waiters.filter((w) => {
      if (!w.pending.has(name)) return true;
      if (this.#isSettled(name, w.generation)) w.pending.delete(name);
      if (w.pending.size > 0) return true;
      w.done(now);
      return false;
    });
  }
}
