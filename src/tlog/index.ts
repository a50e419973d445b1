/**
 * `src/tlog`: Domicile's transparency-log library, in its own right. RFC 6962/9162 Merkle trees
 * and the C2SP formats (signed-note, tlog-checkpoint, tlog-tiles, tlog-cosignature, tlog-witness,
 * tlog-proof) on `node:crypto` alone, a log engine over a pluggable storage, and the auditor's
 * whole-log verifier. Imports nothing from the rest of the project.
 */
export * from './checkpoint.js';
export * from './cosignature.js';
export * from './errors.js';
export * from './log.js';
export * from './merkle.js';
export * from './note.js';
export * from './proof-file.js';
export * from './tiles.js';
export * from './verify-log.js';
export * from './witness.js';
