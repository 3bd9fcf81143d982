/**
 * Response classifier registry (category `responseClassifier`).
 *
 * Contract (see classifier.ts): `createClassifier(config)` once per service stack (default
 * `io.l5d.http.nonRetryable5XX`); per attempt `classify(method, status | undefined, err,
 * responseRetryable?, chunkedRequest?)` → `'success' | 'failure' | 'retryable-failure'`.
 * `responseRetryable` is the response's `l5d-retryable: true`; `chunkedRequest` is true when
 * the request body streams (cannot be replayed).
 */
import type { PluginSpec } from '../../config/schema.js';
import { PluginError } from '../plugin-errors.js';
import type { ResponseClassifier } from './classifier.js';
import { ALL_METHODS, HttpClassifier, IDEMPOTENT_METHODS, READ_METHODS } from './classifier.js';

export type { ResponseClass, ResponseClassifier } from './classifier.js';
export { HttpClassifier, isRetryableError, READ_METHODS, IDEMPOTENT_METHODS, ALL_METHODS } from './classifier.js';

export const DEFAULT_CLASSIFIER_KIND = 'io.l5d.http.nonRetryable5XX';

function spec(kind: string, make: () => ResponseClassifier): PluginSpec<Record<string, unknown>, ResponseClassifier, unknown> {
  const made = make();
  return { category: 'responseClassifier', kind, fields: {}, create: () => made };
}

function notSupported(kind: string, fields = {}): PluginSpec<Record<string, unknown>, ResponseClassifier, unknown> {
  return { category: 'responseClassifier', kind, fields, experimental: true };
}

export const classifierPlugins: readonly PluginSpec<Record<string, unknown>, ResponseClassifier, unknown>[] = [
  spec('io.l5d.http.nonRetryable5XX', () => new HttpClassifier('io.l5d.http.nonRetryable5XX', null)),
  spec('io.l5d.http.retryableRead5XX', () => new HttpClassifier('io.l5d.http.retryableRead5XX', READ_METHODS)),
  spec('io.l5d.http.retryableIdempotent5XX', () => new HttpClassifier('io.l5d.http.retryableIdempotent5XX', IDEMPOTENT_METHODS)),
  spec('io.l5d.http.retryableAll5XX', () => new HttpClassifier('io.l5d.http.retryableAll5XX', ALL_METHODS)),
  spec('io.l5d.http.allSuccessful', () => new HttpClassifier('io.l5d.http.allSuccessful', null, true)),
  // HTTP/2 and gRPC classifiers: documented by Linkerd for h2 routers, which Meshwork lacks.
  notSupported('io.l5d.h2.nonRetryable5XX'),
  notSupported('io.l5d.h2.retryableRead5XX'),
  notSupported('io.l5d.h2.retryableIdempotent5XX'),
  notSupported('io.l5d.h2.retryableAll5XX'),
  notSupported('io.l5d.h2.allSuccessful'),
  notSupported('io.l5d.h2.grpc.default', { successStatusCodes: { type: { array: 'int' } } }),
  notSupported('io.l5d.h2.grpc.compliant', { successStatusCodes: { type: { array: 'int' } } }),
  notSupported('io.l5d.h2.grpc.alwaysRetryable', { successStatusCodes: { type: { array: 'int' } } }),
  notSupported('io.l5d.h2.grpc.neverRetryable', { successStatusCodes: { type: { array: 'int' } } }),
  notSupported('io.l5d.h2.grpc.retryableStatusCodes', {
    successStatusCodes: { type: { array: 'int' } },
    retryableStatusCodes: { type: { array: 'int' }, required: true },
  }),
];

export function createClassifier(config: Readonly<Record<string, unknown>> | undefined): ResponseClassifier {
  const kind = config?.['kind'] ?? DEFAULT_CLASSIFIER_KIND;
  const s = classifierPlugins.find((p) => p.kind === kind);
  if (s === undefined || s.create === undefined) {
    const supported = classifierPlugins.filter((p) => p.create !== undefined).map((p) => p.kind);
    throw new PluginError(
      s === undefined ? 'MESH_ERR_PLUGIN_UNKNOWN_KIND' : 'MESH_ERR_PLUGIN_NOT_SUPPORTED',
      `responseClassifier: ${s === undefined ? 'unknown' : 'unsupported'} kind ${JSON.stringify(kind)}; supported: ${supported.join(', ')}`,
      'kind',
    );
  }
  return s.create((config ?? {}) as Record<string, unknown>, undefined);
}
