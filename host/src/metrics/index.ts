// Public surface of the metrics folder.

export type { MetricSources } from './collect.ts';
export { LABEL, METRIC } from './names.ts';
export { createMetrics, type Metrics } from './registry.ts';
