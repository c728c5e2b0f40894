// Public surface of the metrics folder.
export { createMetrics, type Metrics } from './registry.ts';
export { LABEL, METRIC } from './names.ts';
