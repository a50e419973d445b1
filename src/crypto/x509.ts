/**
 * `@peculiar/x509`, ready for Node: the Reflect metadata polyfill its dependency injection needs
 * is loaded first, and Node's WebCrypto is set as its provider. Import the library from here,
 * never directly, so that the order holds.
 *
 * @example
 * import { x509 } from '../crypto/x509.js';
 * const cert = new x509.X509Certificate(pem);
 */
import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto);

export { x509 };
