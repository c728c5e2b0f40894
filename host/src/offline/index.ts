// Public surface of the offline engine: the host's reconcile pipeline run on given objects, writes recorded.

export {
  type GuestLog,
  type GuestLogLevel,
  OfflineEngine,
  type OfflineEngineOptions,
  type OfflineResult,
  type OfflineRun,
} from './engine.ts';
export { FixtureApi, stableUid } from './fixture-api.ts';
export { type RecordedWrite, RecordingClient } from './recording-client.ts';
