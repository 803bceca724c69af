import type { CheckSpecError, CheckSpecErrorCode } from './validate.ts';

/**
 * Thrown by `assertChecks` for an invalid check list: the first problem becomes `code`, `field`
 * and `message` (what the API answers as `{"error", "field"}`), all of them are in `errors`.
 */
export class InvalidHealthCheckError extends Error {
  override readonly name = 'InvalidHealthCheckError';
  readonly code: CheckSpecErrorCode;
  readonly field: string;

  constructor(readonly errors: readonly [CheckSpecError, ...CheckSpecError[]]) {
    super(errors[0].message);
    this.code = errors[0].code;
    this.field = errors[0].field;
  }
}
