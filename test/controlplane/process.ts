// Child processes that cannot outlive the Node process that started them.
//
// Each child is started through util-linux `setpriv --pdeathsig KILL`, so the kernel kills it when its
// parent dies for any reason (crash, SIGKILL, OOM): the one case no `exit` handler can cover.

import { type ChildProcess, spawn } from 'node:child_process';
import { accessSync, closeSync, constants, openSync, readdirSync, readFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';

export interface ExitStatus {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  /** Set when the process could not be started at all. */
  readonly error?: Error;
}

export interface GuardedProcess {
  readonly name: string;
  readonly pid: number;
  readonly logPath: string;
  /** Resolves once the process has exited and been reaped. */
  readonly exited: Promise<ExitStatus>;
  exitStatus(): ExitStatus | undefined;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves when the process is gone. */
  stop(graceMs: number): Promise<ExitStatus>;
  /** Synchronous SIGKILL for `exit` handlers, where nothing asynchronous runs any more. */
  killNow(): void;
  /** Lets the Node process exit while this child runs (the child still dies with it). */
  unref(): void;
}

export interface SpawnGuardedOptions {
  readonly name: string;
  readonly command: string;
  readonly args: readonly string[];
  /** stdout and stderr are appended here; the file outlives the process for diagnostics. */
  readonly logPath: string;
  readonly cwd?: string;
  readonly env?: NodeJS.ProcessEnv;
}

const setprivPath = findExecutable('setpriv');

/** Whether children are tied to this process by the kernel (false only where util-linux is missing). */
export const parentDeathSignalAvailable = setprivPath !== undefined;

export function spawnGuarded(options: SpawnGuardedOptions): GuardedProcess {
  const logFd = openSync(options.logPath, 'a');
  let child: ChildProcess;
  try {
    const [command, args] =
      setprivPath === undefined
        ? [options.command, [...options.args]]
        : [setprivPath, ['--pdeathsig', 'KILL', '--', options.command, ...options.args]];
    child = spawn(command, args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: ['ignore', logFd, logFd],
    });
  } finally {
    closeSync(logFd);
  }

  let status: ExitStatus | undefined;
  const exited = new Promise<ExitStatus>((resolve) => {
    child.once('error', (error) => {
      status ??= { code: null, signal: null, error };
      resolve(status);
    });
    child.once('exit', (code, signal) => {
      status ??= { code, signal };
      resolve(status);
    });
  });
  const pid = child.pid ?? -1;

  return {
    name: options.name,
    pid,
    logPath: options.logPath,
    exited,
    exitStatus: () => status,
    async stop(graceMs) {
      if (status !== undefined) return status;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      try {
        return await exited;
      } finally {
        clearTimeout(timer);
      }
    },
    killNow() {
      if (status === undefined) child.kill('SIGKILL');
    },
    unref() {
      child.unref();
    },
  };
}

export function describeExit(status: ExitStatus): string {
  if (status.error !== undefined) return `could not be started (${status.error.message})`;
  if (status.signal !== null) return `was killed by ${status.signal}`;
  return `exited with code ${status.code}`;
}

/** The last `lines` lines of a log, for error messages; empty when the log is missing. */
export function logTail(path: string, lines = 25): string {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return '';
  }
  const all = text.trimEnd().split('\n');
  return all
    .slice(-lines)
    .map((line) => `  | ${line.length > 400 ? `${line.slice(0, 400)}…` : line}`)
    .join('\n');
}

export function isAlive(pid: number): boolean {
  if (isZombie(pid)) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Blocks until every pid is dead or a zombie (a zombie runs no code and holds no ports or files), or
 * `timeoutMs` passes. Only for `exit` handlers: everything else awaits `exited`.
 */
export function waitForDeathSync(pids: readonly number[], timeoutMs: number): boolean {
  const deadline = Date.now() + timeoutMs;
  const sleeper = new Int32Array(new SharedArrayBuffer(4));
  for (;;) {
    if (pids.every((pid) => !isAlive(pid))) return true;
    if (Date.now() >= deadline) return false;
    Atomics.wait(sleeper, 0, 0, 10);
  }
}

function isZombie(pid: number): boolean {
  try {
    // The state field follows the parenthesised command name, which may itself contain spaces.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z';
  } catch {
    return false;
  }
}

export function findExecutable(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir === '') continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // Not in this PATH entry.
    }
  }
  return undefined;
}

export interface ProcessInfo {
  readonly pid: number;
  readonly command: string;
}

/** Live processes (zombies excluded) whose environment holds `name=value`: how a run finds what it left behind. */
export function findProcessesByEnv(name: string, value: string): ProcessInfo[] {
  const needle = `${name}=${value}`;
  const found: ProcessInfo[] = [];
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    try {
      if (!readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0').includes(needle)) continue;
      if (!isAlive(pid)) continue;
      const command = readFileSync(`/proc/${pid}/cmdline`, 'latin1').split('\0').join(' ').trim();
      found.push({ pid, command: command.length > 300 ? `${command.slice(0, 300)}…` : command });
    } catch {
      // Exited while we looked, or not ours to read.
    }
  }
  return found;
}
