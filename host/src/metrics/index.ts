// Public surface of the metrics folder.

export { LABEL, METRIC } from './names.ts';
export { createMetrics, type Metrics } from './registry.ts';
