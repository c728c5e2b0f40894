// Compares the fuel records of two architectures: every case, its bytes, its result and the fuel of each call.

export interface CaseRecord {
  /** sha256 of the module bytes loaded: the same .wasm on both sides. */
  readonly digest: string;
  /** How the case ended: a load or reconcile failure code, or the fixture's verdict and outcome. */
  readonly result: string;
  readonly calls: ReadonlyArray<{ readonly export: string; readonly outcome: string; readonly fuelUsed: number }>;
}

export interface FuelRecord {
  readonly arch: string;
  readonly node: string;
  readonly cases: Record<string, CaseRecord>;
}

/** One line per difference, naming the case; empty when the records agree on everything but arch and node. */
export function fuelDifferences(expected: FuelRecord, actual: FuelRecord): string[] {
  const out: string[] = [];
  const a = `${expected.arch}`;
  const b = `${actual.arch}`;
  const ids = [...new Set([...Object.keys(expected.cases), ...Object.keys(actual.cases)])].sort();
  for (const id of ids) {
    const x = expected.cases[id];
    const y = actual.cases[id];
    if (x === undefined || y === undefined) {
      out.push(`${id}: only on ${x === undefined ? b : a}`);
      continue;
    }
    if (x.digest !== y.digest) out.push(`${id}: different module bytes (${a} ${x.digest}, ${b} ${y.digest})`);
    if (x.result !== y.result) out.push(`${id}: ${a} "${x.result}", ${b} "${y.result}"`);
    const n = Math.max(x.calls.length, y.calls.length);
    for (let i = 0; i < n; i++) {
      const cx = x.calls[i];
      const cy = y.calls[i];
      const show = (c: CaseRecord['calls'][number] | undefined) =>
        c === undefined ? 'no call' : `${c.export} ${c.outcome} ${c.fuelUsed} fuel`;
      if (cx?.export !== cy?.export || cx?.outcome !== cy?.outcome || cx?.fuelUsed !== cy?.fuelUsed) {
        out.push(`${id}: call ${i + 1}: ${a} ${show(cx)}, ${b} ${show(cy)}`);
      }
    }
  }
  return out;
}

/** Fuel per case (all its calls), the {fixture: fuel} view of a record. */
export function fuelByCase(record: FuelRecord): Record<string, number> {
  return Object.fromEntries(
    Object.entries(record.cases).map(([id, c]) => [id, c.calls.reduce((n, call) => n + call.fuelUsed, 0)]),
  );
}
