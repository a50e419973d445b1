/**
 * Error codes of the policy engine. Every failure the engine raises carries one of these, so
 * callers test the code, never the message.
 */
export const POLICY_ERROR_CODES = {
  /** A schema or policy does not parse or does not validate; the message carries Cedar's own words. */
  invalid: 'DOMICILE_ERR_POLICY_INVALID',
  /** Two policies share an `@id`, or a policy has none; decisions name policies by id, so ids must be unique. */
  duplicateId: 'DOMICILE_ERR_POLICY_DUPLICATE_ID',
  /** The cedar-wasm reference implementation returned a failure while preparing a policy set. */
  cedar: 'DOMICILE_ERR_POLICY_CEDAR',
} as const;

/** One of the `DOMICILE_ERR_POLICY_*` codes. */
export type PolicyErrorCode = (typeof POLICY_ERROR_CODES)[keyof typeof POLICY_ERROR_CODES];

/**
 * An error raised while loading or preparing policies. Decisions never throw: an evaluation error
 * is a deny, reported in `Decision.errors`.
 *
 * @example
 * try { loadPolicySet(options) } catch (e) { if (e instanceof PolicyError && e.code === POLICY_ERROR_CODES.invalid) … }
 */
export class PolicyError extends Error {
  readonly code: PolicyErrorCode;

  constructor(code: PolicyErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PolicyError';
    this.code = code;
  }
}
