export type * from './types.ts';
export { createHookRunner } from './runner.ts';
export { hookEnvironment, runExecHook } from './exec.ts';
export {
  DEFAULT_WEBHOOK_RETRY,
  deliverWebhook,
  webhookBody,
  WebhookDeliveryError,
  type DeliveryResult,
} from './webhook.ts';
export {
  DELIVERY_HEADER,
  DELIVERY_TOLERANCE_SECONDS,
  SeenDeliveries,
  SIGNATURE_HEADER,
  signDelivery,
  TIMESTAMP_HEADER,
  verifyDelivery,
  type DeliveryHeaders,
  type DeliveryVerdict,
} from './sign.ts';
export {
  HookCancelledError,
  HookError,
  HookExitCodeError,
  HookQueueFullError,
  HookSpawnError,
  HookTimeoutError,
  isRetryableHookError,
  WebhookStatusError,
  WebhookTimeoutError,
  WebhookUnreachableError,
  type HookErrorCode,
} from './errors.ts';
