// CPU time and memory of other processes, read from /proc: what the anchors bench compares.
//
// Every figure covers the whole process, all its threads included (a Node host's guest workers are
// threads): utime + stime of /proc/<pid>/stat, VmRSS and VmHWM of /proc/<pid>/status, Pss of
// /proc/<pid>/smaps_rollup. PSS splits each shared page among the processes mapping it, so N copies of
// one binary add up to less than N times its RSS, and a sum of PSS is what they cost the machine together.

import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

const CLOCK_TICKS = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());

/** User + system CPU seconds the process has used so far (10 ms resolution where CLK_TCK is 100). */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) may hold spaces and parentheses: fields are counted after its last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}

export interface Memory {
  readonly rssBytes: number;
  /** The largest RSS the process ever had (the kernel's high-water mark). */
  readonly peakRssBytes: number;
  readonly pssBytes: number;
}

function kbField(text: string, field: string): number {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text);
  if (match === null) throw new Error(`no ${field} in /proc output`);
  return Number(match[1]) * 1024;
}

export function memory(pid: number): Memory {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const rollup = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  return {
    rssBytes: kbField(status, 'VmRSS'),
    peakRssBytes: kbField(status, 'VmHWM'),
    pssBytes: kbField(rollup, 'Pss'),
  };
}

/** Sums over processes: what N controller processes cost together. */
export function totalMemory(pids: readonly number[]): Memory {
  const each = pids.map(memory);
  const sum = (pick: (m: Memory) => number) => each.reduce((n, m) => n + pick(m), 0);
  return {
    rssBytes: sum((m) => m.rssBytes),
    peakRssBytes: sum((m) => m.peakRssBytes),
    pssBytes: sum((m) => m.pssBytes),
  };
}

/**
 * Samples one process's memory on an interval and keeps the peaks. The kernel keeps the RSS peak itself
 * (VmHWM); PSS has no high-water mark, so its peak is the largest sample.
 */
export class MemorySampler {
  readonly #pid: number;
  readonly #timer: NodeJS.Timeout;
  #peakPss = 0;
  #peakRss = 0;

  constructor(pid: number, intervalMs: number) {
    this.#pid = pid;
    this.#timer = setInterval(() => this.sample(), intervalMs);
  }

  sample(): Memory | undefined {
    try {
      const m = memory(this.#pid);
      this.#peakPss = Math.max(this.#peakPss, m.pssBytes);
      this.#peakRss = Math.max(this.#peakRss, m.peakRssBytes);
      return m;
    } catch {
      // Between spawn and exec, or after exit: no figure, not a failure.
      return undefined;
    }
  }

  /** Takes a last sample, stops, and returns the peaks. */
  stop(): { peakRssBytes: number; peakPssBytes: number } {
    this.sample();
    clearInterval(this.#timer);
    return { peakRssBytes: this.#peakRss, peakPssBytes: this.#peakPss };
  }
}
