// A content-addressed disk cache of module blobs (<dir>/sha256/<hex>), bounded in size, verified on read.
//
// Writes go to <dir>/tmp, are fsynced and renamed into place (then the directory is fsynced), so a crash
// leaves either the whole blob or none. Reads re-hash the file: a blob that no longer matches its name
// (disk corruption, a hand edit) is deleted and reported, never returned. Eviction is least-recently-used by
// mtime, which reads touch: atime is unreliable (noatime/relatime mounts are the norm on edge devices), and
// mtime survives restarts so the order does too. Pinned digests (each reconciler's active and last good
// module) are never evicted, even if the pinned set alone exceeds the bound.

import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, rm, stat, unlink, utimes } from 'node:fs/promises';
import path from 'node:path';
import { sha256Digest } from '../../digest.ts';
import { WrError } from '../../errors.ts';
import { DIGEST_PATTERN, type Digest } from '../spec.ts';

export interface ModuleStoreOptions {
  readonly dir: string;
  /** Total bytes of unpinned blobs kept; least recently used ones are deleted past it. */
  readonly maxBytes: number;
  /** Told about corrupt blobs found on read and blobs evicted, for logs and metrics. */
  readonly onEvent?: (event: StoreEvent) => void;
}

export type StoreEvent =
  | { readonly type: 'corrupt'; readonly digest: Digest; readonly actual: Digest | undefined }
  | { readonly type: 'evicted'; readonly digest: Digest; readonly sizeBytes: number };

interface Entry {
  size: number;
  lastUsedMs: number;
}

export interface StoreUsage {
  readonly entries: number;
  readonly bytes: number;
  readonly pinnedBytes: number;
}

function hexOf(digest: Digest): string {
  if (!DIGEST_PATTERN.test(digest)) {
    throw new WrError('WR_SPEC_INVALID', `not a sha256 digest: ${String(digest).slice(0, 80)}`);
  }
  return digest.slice('sha256:'.length);
}

function storeError(op: string, err: unknown): WrError {
  return new WrError('WR_SOURCE_UNREACHABLE', `module cache ${op} failed: ${(err as Error).message}`, {
    cause: err,
    details: { op },
  });
}

export class ModuleStore {
  readonly dir: string;
  readonly maxBytes: number;
  readonly #blobDir: string;
  readonly #tmpDir: string;
  readonly #onEvent: (event: StoreEvent) => void;
  readonly #entries = new Map<Digest, Entry>();
  readonly #pins = new Map<string, ReadonlySet<Digest>>();

  private constructor(options: ModuleStoreOptions) {
    this.dir = options.dir;
    this.maxBytes = options.maxBytes;
    this.#blobDir = path.join(options.dir, 'sha256');
    this.#tmpDir = path.join(options.dir, 'tmp');
    this.#onEvent = options.onEvent ?? (() => {});
  }

  /** Opens (creating if needed) the cache, indexes what is on disk and drops temp files a crash left behind. */
  static async open(options: ModuleStoreOptions): Promise<ModuleStore> {
    const store = new ModuleStore(options);
    try {
      await mkdir(store.#blobDir, { recursive: true });
      await rm(store.#tmpDir, { recursive: true, force: true });
      await mkdir(store.#tmpDir, { recursive: true });
      for (const name of await readdir(store.#blobDir)) {
        const digest = `sha256:${name}` as Digest;
        const file = path.join(store.#blobDir, name);
        if (!DIGEST_PATTERN.test(digest)) {
          await rm(file, { recursive: true, force: true });
          continue;
        }
        const st = await stat(file);
        if (st.isFile()) store.#entries.set(digest, { size: st.size, lastUsedMs: st.mtimeMs });
        else await rm(file, { recursive: true, force: true });
      }
    } catch (err) {
      throw storeError('open', err);
    }
    return store;
  }

  has(digest: Digest): boolean {
    return this.#entries.has(digest);
  }

  /** The blob's bytes after re-verifying its digest; undefined when absent or found corrupt (then deleted). */
  async get(digest: Digest): Promise<Uint8Array | undefined> {
    const file = path.join(this.#blobDir, hexOf(digest));
    const entry = this.#entries.get(digest);
    if (entry === undefined) return undefined;
    let bytes: Buffer;
    try {
      bytes = await readFile(file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        this.#entries.delete(digest);
        return undefined;
      }
      throw storeError('read', err);
    }
    const actual = sha256Digest(bytes);
    if (actual !== digest) {
      this.#entries.delete(digest);
      await unlink(file).catch(() => {});
      this.#onEvent({ type: 'corrupt', digest, actual });
      return undefined;
    }
    const now = Date.now();
    entry.lastUsedMs = now;
    entry.size = bytes.byteLength;
    await utimes(file, now / 1000, now / 1000).catch(() => {});
    return bytes;
  }

  /**
   * Stores `bytes` under their sha256 (checked against `expected` when given) and returns the digest. Then
   * evicts least-recently-used unpinned blobs past the size bound, never the one just written.
   */
  async put(bytes: Uint8Array, expected?: Digest): Promise<Digest> {
    const digest = sha256Digest(bytes);
    if (expected !== undefined && digest !== expected) {
      throw new WrError('WR_SOURCE_DIGEST_MISMATCH', `refusing to cache ${digest} as ${expected}`, {
        details: { expected, actual: digest },
      });
    }
    const file = path.join(this.#blobDir, hexOf(digest));
    const existing = this.#entries.get(digest);
    if (existing !== undefined) {
      existing.lastUsedMs = Date.now();
      return digest;
    }
    const tmp = path.join(this.#tmpDir, `${hexOf(digest)}.${process.pid}.${randomBytes(6).toString('hex')}`);
    try {
      const handle = await open(tmp, 'wx', 0o644);
      try {
        await handle.writeFile(bytes);
        await handle.sync();
      } finally {
        await handle.close();
      }
      await rename(tmp, file);
      await this.#syncDir(this.#blobDir);
    } catch (err) {
      await unlink(tmp).catch(() => {});
      throw storeError('write', err);
    }
    this.#entries.set(digest, { size: bytes.byteLength, lastUsedMs: Date.now() });
    await this.#evict(digest);
    return digest;
  }

  /** Replaces the digests `owner` (e.g. "namespace/name" of a reconciler) keeps from eviction. */
  setPins(owner: string, digests: Iterable<Digest>): void {
    const set = new Set(digests);
    if (set.size === 0) this.#pins.delete(owner);
    else this.#pins.set(owner, set);
  }

  deletePins(owner: string): void {
    this.#pins.delete(owner);
  }

  isPinned(digest: Digest): boolean {
    for (const set of this.#pins.values()) if (set.has(digest)) return true;
    return false;
  }

  usage(): StoreUsage {
    let bytes = 0;
    let pinnedBytes = 0;
    for (const [digest, e] of this.#entries) {
      bytes += e.size;
      if (this.isPinned(digest)) pinnedBytes += e.size;
    }
    return { entries: this.#entries.size, bytes, pinnedBytes };
  }

  /** Runs eviction now (after pins were released, for example). */
  async enforceLimit(): Promise<void> {
    await this.#evict(undefined);
  }

  async #evict(keep: Digest | undefined): Promise<void> {
    let unpinned = 0;
    const candidates: [Digest, Entry][] = [];
    for (const [digest, e] of this.#entries) {
      if (this.isPinned(digest)) continue;
      unpinned += e.size;
      if (digest !== keep) candidates.push([digest, e]);
    }
    if (unpinned <= this.maxBytes) return;
    candidates.sort((a, b) => a[1].lastUsedMs - b[1].lastUsedMs);
    for (const [digest, e] of candidates) {
      if (unpinned <= this.maxBytes) break;
      try {
        await unlink(path.join(this.#blobDir, hexOf(digest)));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw storeError('evict', err);
      }
      this.#entries.delete(digest);
      unpinned -= e.size;
      this.#onEvent({ type: 'evicted', digest, sizeBytes: e.size });
    }
  }

  async #syncDir(dir: string): Promise<void> {
    const handle = await open(dir, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  }
}
