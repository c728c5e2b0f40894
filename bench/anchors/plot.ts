// Draws the anchors bench's figures as one SVG (vega-lite, rendered headless) for docs/benchmarks.md.

import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';

export interface ScenarioPoint {
  /** "burst 1000, 4 workers" */
  readonly scenario: string;
  readonly contender: string;
  readonly seconds: number;
  readonly cpuSeconds: number;
  readonly requestsPerApp: number;
}

export interface FootprintPoint {
  readonly controllers: number;
  readonly contender: string;
  readonly measure: 'RSS' | 'PSS';
  readonly megabytes: number;
}

export interface StartPoint {
  readonly contender: string;
  readonly milliseconds: number;
}

const COLORS = {
  domain: ['controller-runtime', 'this host, Wasm', 'this host, native'],
  range: ['#4c78a8', '#e45756', '#f58518'],
};

function groupedBars(title: string, field: string, axis: string, values: readonly ScenarioPoint[]) {
  return {
    title,
    width: 640,
    height: 180,
    data: { values },
    mark: { type: 'bar' },
    encoding: {
      x: { field: 'scenario', type: 'nominal', sort: null, title: null, axis: { labelAngle: -30 } },
      xOffset: { field: 'contender', sort: COLORS.domain },
      y: { field, type: 'quantitative', title: axis },
      color: { field: 'contender', scale: COLORS, title: null },
    },
  };
}

export async function writePlot(
  path: string,
  scenarios: readonly ScenarioPoint[],
  footprint: readonly FootprintPoint[],
  starts: readonly StartPoint[],
): Promise<void> {
  const spec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    config: { font: 'sans-serif', legend: { orient: 'top' } },
    vconcat: [
      groupedBars('Converge time (lower is better)', 'seconds', 'seconds', scenarios),
      groupedBars('Process CPU (lower is better)', 'cpuSeconds', 'CPU seconds', scenarios),
      groupedBars('API requests per App', 'requestsPerApp', 'requests', scenarios),
      {
        hconcat: [
          {
            title: ['Idle memory: N Go processes (summed) vs one host with N modules', 'solid RSS, dashed PSS'],
            width: 380,
            height: 220,
            data: { values: footprint },
            mark: { type: 'line', point: true },
            encoding: {
              x: { field: 'controllers', type: 'quantitative', title: 'controllers', scale: { type: 'linear' } },
              y: { field: 'megabytes', type: 'quantitative', title: 'MB' },
              color: { field: 'contender', scale: COLORS, title: null },
              strokeDash: { field: 'measure', type: 'nominal', sort: ['RSS', 'PSS'], legend: null },
            },
          },
          {
            title: 'Start to first write (median)',
            width: 200,
            height: 220,
            data: { values: starts },
            mark: { type: 'bar' },
            encoding: {
              x: { field: 'contender', type: 'nominal', sort: COLORS.domain, title: null, axis: { labelAngle: -30 } },
              y: { field: 'milliseconds', type: 'quantitative', title: 'ms' },
              color: { field: 'contender', scale: COLORS, title: null },
            },
          },
        ],
      },
    ],
  } as unknown as TopLevelSpec;
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  try {
    const svg = await view.toSVG();
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, svg);
  } finally {
    view.finalize();
  }
}
