// Public surface of the queue folder: the per-reconciler work queue and its rate-limiting parts.
export { type BackoffOptions, backoffDelayMs, DEFAULT_BACKOFF } from './backoff.ts';
export { DEFAULT_TOKEN_BUCKET, TokenBucket, type TokenBucketOptions } from './token-bucket.ts';
export { mergeTriggerReason } from './trigger.ts';
export {
  type AddOptions,
  type DelayOptions,
  type HandlerResult,
  type Lane,
  type QueueObserver,
  type QueueStats,
  type ShutdownReport,
  type TriggerSource,
  type WorkHandler,
  type WorkItem,
  WorkQueue,
  type WorkQueueOptions,
} from './work-queue.ts';
