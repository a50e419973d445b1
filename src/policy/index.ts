/**
 * Domicile's access-policy engine: Cedar policies, validated by cedar-wasm, compiled to
 * JavaScript closures and indexed by (action, jurisdiction, class).
 *
 * @example
 * const engine = await loadShippedPolicySet();
 * const decision = engine.decide(request);
 * if (!decision.allowed) deny(decision.policyHash, decision.determining, decision.errors);
 */
export { UNSUPPORTED_OPERATORS } from './compile.js';
export type {
  AccessRequestResource,
  AnonymousPrincipal,
  AuthenticatedPrincipal,
  DataClass,
  DecisionContext,
  DecisionRequest,
  DomicileAction,
  Grant,
  JurisdictionFacts,
  PolicyBundleResource,
  PrincipalFacts,
  RecordAction,
  RecordResource,
} from './domicile.js';
export { DOMICILE_TYPES, RECORD_ACTIONS } from './domicile.js';
export type { CedarRequest, Decision, LoadedPolicy, LoadPolicySetOptions, PolicySource } from './engine.js';
export { loadPolicySet, PolicyEngine } from './engine.js';
export type { PolicyErrorCode } from './errors.js';
export { POLICY_ERROR_CODES, PolicyError } from './errors.js';
export { loadShippedPolicySet, readPolicyDirectory } from './files.js';
