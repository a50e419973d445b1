/**
 * The single place that loads the cedar-wasm reference implementation. The `nodejs` build loads
 * its wasm synchronously with `fs`, which is what a server wants; it is CommonJS, and Node's ESM
 * loader exposes its named exports.
 */
import { setFlagsFromString } from 'node:v8';
import * as cedar from '@cedar-policy/cedar-wasm/nodejs';

// Node 20's V8 (11.3) inlines JS→Wasm calls into optimized callers, and aborts the process
// ("unreachable code" in `Deoptimizer::DoComputeBuiltinContinuation`) when such a caller is lazily
// deoptimized while the Wasm call is on the stack: seen in `npm run bench -- policy`, where
// `decideEach` inlined the call into cedar-wasm. Not inlining costs nanoseconds on calls that take
// hundreds of microseconds. Set before any caller is optimized (this module loads cedar-wasm).
setFlagsFromString('--no-turbo-inline-js-wasm-calls');

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
