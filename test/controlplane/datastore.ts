// How each datastore of the local control plane is started: its command line, its data, its readiness.
//
// kube-apiserver speaks the etcd v3 API to either one. etcd is the reference; kine serves the same API
// from a SQLite table, the way a single-node k3s stores its cluster (docs/operations.md, "Datastores").

import { mkdirSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { join } from 'node:path';
import { freePort } from './ports.ts';
import type { Datastore } from './versions.ts';

const PROBE_TIMEOUT_MS = 2000;

export interface DatastoreLaunch {
  /** Process name and log file name: `etcd` or `kine`. */
  readonly name: Datastore;
  readonly args: readonly string[];
  readonly cwd?: string;
  /** What kube-apiserver's --etcd-servers points at. */
  readonly clientUrl: string;
  /** Every loopback port it listens on. */
  readonly ports: readonly number[];
  /** True once it serves clients. */
  ready(): Promise<boolean>;
}

/** Picks free ports and lays out the data directory under `dir`. */
export async function planDatastore(kind: Datastore, dir: string): Promise<DatastoreLaunch> {
  return kind === 'etcd' ? planEtcd(dir) : planKine(dir);
}

async function planEtcd(dir: string): Promise<DatastoreLaunch> {
  const port = await freePort();
  const peerPort = await freePort();
  const client = `http://127.0.0.1:${port}`;
  const peer = `http://127.0.0.1:${peerPort}`;
  return {
    name: 'etcd',
    args: [
      '--name=wasm-reconciler-test',
      `--data-dir=${join(dir, 'etcd')}`,
      `--listen-client-urls=${client}`,
      `--advertise-client-urls=${client}`,
      `--listen-peer-urls=${peer}`,
      `--initial-advertise-peer-urls=${peer}`,
      `--initial-cluster=wasm-reconciler-test=${peer}`,
      // A throwaway test store: durability buys nothing and fsync dominates write latency.
      '--unsafe-no-fsync',
      '--log-level=warn',
    ],
    clientUrl: client,
    ports: [port, peerPort],
    ready: () => probeEtcdHealth(port),
  };
}

async function planKine(dir: string): Promise<DatastoreLaunch> {
  const port = await freePort();
  // No --endpoint: kine's default, SQLite in ./db/state.db with kine's own connection parameters (WAL,
  // synchronous=NORMAL, busy timeout), is what a single-node k3s runs. Everything else stays at kine's
  // defaults too (progress notifications every 5 s, compaction left to kube-apiserver), so the tests see
  // what users see.
  const cwd = join(dir, 'kine');
  mkdirSync(cwd, { recursive: true });
  return {
    name: 'kine',
    args: [
      `--listen-address=127.0.0.1:${port}`,
      // Its metrics server would bind 0.0.0.0:8080; nothing here scrapes it.
      '--metrics-bind-address=0',
      // The plain format forces terminal colours into the log file.
      '--log-format=json',
    ],
    cwd,
    clientUrl: `http://127.0.0.1:${port}`,
    ports: [port],
    // kine opens its listener only after the database schema is in place, so accepting is ready.
    ready: () => probeTcp(port),
  };
}

function probeEtcdHealth(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = httpRequest({ host: '127.0.0.1', port, path: '/health', timeout: PROBE_TIMEOUT_MS }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
      });
      res.on('end', () => resolve(res.statusCode === 200 && body.includes('"health":"true"')));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
    req.end();
  });
}

function probeTcp(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port, timeout: PROBE_TIMEOUT_MS });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(false));
  });
}
