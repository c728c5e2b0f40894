// Runs every case of an arm64-run directory on the real runtime and prints the fuel of each guest call as JSON.
//
// Run with `node test/arm64/fuel-probe.ts <run dir>` by test/arm64/run.ts, once natively and once under
// emulation: the same bytes, the same inputs, so the records must be equal (fuel is counted by the
// instrumentation, never by time). Only wall-clock deadlines may differ (WR_DEADLINE_SCALE).

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runFixtures } from '../../host/src/cli/fixtures/runner.ts';
import { sha256Digest } from '../../host/src/digest.ts';
import { isWrError } from '../../host/src/errors.ts';
import { type CallEvent, GuestReconciler, ModuleLoader, ModuleSlot } from '../../host/src/runtime/index.ts';
import { fixtureRequest, mapReadPort, recordingLogger } from '../fixtures/guests/host.ts';
import { CASES_FILE, type FixtureCase, type FuelCase, type GuestCase } from './cases.ts';
import type { CaseRecord, FuelRecord } from './compare.ts';

const loader = new ModuleLoader();

function calls(events: readonly CallEvent[]): CaseRecord['calls'] {
  return events.map((e) => ({ export: e.export, outcome: e.outcome, fuelUsed: e.fuelUsed }));
}

function codeOf(err: unknown): string {
  if (isWrError(err)) return err.code;
  throw err;
}

async function guestCase(dir: string, c: GuestCase): Promise<CaseRecord> {
  const bytes = readFileSync(join(dir, c.wasm));
  const events: CallEvent[] = [];
  const slot = new ModuleSlot({
    identity: { name: c.id, namespace: 'system' },
    loader,
    logger: recordingLogger().logger,
    readPort: mapReadPort([]),
    maxInstances: 1,
    observer: { onCall: (e) => events.push(e) },
  });
  let result: string;
  try {
    await slot.load(bytes, null);
    result = await new GuestReconciler(slot).reconcile(fixtureRequest).then(
      () => 'reconciled',
      (err: unknown) => `reconcile failed: ${codeOf(err)}`,
    );
  } catch (err) {
    result = `load failed: ${codeOf(err)}`;
  } finally {
    await slot.close();
  }
  return { digest: sha256Digest(bytes), result, calls: calls(events) };
}

/** The fixtures of one module, through one offline engine as `wasm-reconciler test` runs them. */
async function fixtureCases(dir: string, wasm: string, cases: readonly FixtureCase[]): Promise<CaseRecord[]> {
  const bytes = readFileSync(join(dir, wasm));
  const reports = await runFixtures(
    bytes,
    cases.map((c) => join(dir, c.fixture)),
  );
  return reports.map((report) => {
    const outcome = report.outcome;
    const detail =
      outcome === undefined ? report.problem : 'children' in outcome ? outcome.outcome : outcome.error.code;
    return {
      digest: sha256Digest(bytes),
      result: `${report.verdict}: ${detail ?? ''}`,
      calls: outcome !== undefined && 'calls' in outcome ? calls(outcome.calls) : [],
    };
  });
}

async function main(): Promise<void> {
  const dir = process.argv[2];
  if (dir === undefined) throw new Error('usage: node test/arm64/fuel-probe.ts <run dir>');
  const cases = JSON.parse(readFileSync(join(dir, CASES_FILE), 'utf8')) as FuelCase[];
  const record: FuelRecord = { arch: process.arch, node: process.version, cases: {} };
  const byModule = new Map<string, FixtureCase[]>();
  for (const c of cases) {
    if (c.kind === 'guest') record.cases[c.id] = await guestCase(dir, c);
    else byModule.set(c.wasm, [...(byModule.get(c.wasm) ?? []), c]);
  }
  for (const [wasm, group] of byModule) {
    const records = await fixtureCases(dir, wasm, group);
    group.forEach((c, i) => {
      record.cases[c.id] = records[i]!;
    });
  }
  process.stdout.write(`${JSON.stringify(record)}\n`);
}

await main();
