export type * from './types.ts';
export { createHookRunner } from './runner.ts';
export { hookEnvironment, runExecHook } from './exec.ts';
export {
  backoffDelay,
  deliverWebhook,
  webhookBody,
  WebhookDeliveryError,
  type DeliveryResult,
} from './webhook.ts';
export { signBody, verifySignature, SIGNATURE_HEADER } from './sign.ts';
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
