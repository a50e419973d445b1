/**
 * The single place that loads the cedar-wasm reference implementation. The `nodejs` build loads
 * its wasm synchronously with `fs`, which is what a server wants; it is CommonJS, and Node's ESM
 * loader exposes its named exports.
 */
import * as cedar from '@cedar-policy/cedar-wasm/nodejs';

export type {
  AuthorizationAnswer,
  CedarValueJson,
  Context as CedarContext,
  DetailedError,
  EntityJson,
  EntityUidJson,
  Expr,
  PolicyJson,
  SchemaJson,
} from '@cedar-policy/cedar-wasm/nodejs';
export { cedar };
