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
import { H2_CLASSIFIER_KINDS } from './h2.js';

export type { ResponseClass, ResponseClassifier } from './classifier.js';
export { HttpClassifier, isRetryableError, READ_METHODS, IDEMPOTENT_METHODS, ALL_METHODS } from './classifier.js';

export const DEFAULT_CLASSIFIER_KIND = 'io.l5d.http.nonRetryable5XX';

export type { H2ResponseClassifier } from './h2.js';
export { createH2Classifier, DEFAULT_H2_CLASSIFIER_KIND, H2_CLASSIFIER_KINDS, h2ClassifierPlugins, isRefusedStream } from './h2.js';

function spec(kind: string, make: () => ResponseClassifier): PluginSpec<Record<string, unknown>, ResponseClassifier, unknown> {
  const made = make();
  return { category: 'responseClassifier', kind, fields: {}, create: () => made };
}

export const classifierPlugins: readonly PluginSpec<Record<string, unknown>, ResponseClassifier, unknown>[] = [
  spec('io.l5d.http.nonRetryable5XX', () => new HttpClassifier('io.l5d.http.nonRetryable5XX', null)),
  spec('io.l5d.http.retryableRead5XX', () => new HttpClassifier('io.l5d.http.retryableRead5XX', READ_METHODS)),
  spec('io.l5d.http.retryableIdempotent5XX', () => new HttpClassifier('io.l5d.http.retryableIdempotent5XX', IDEMPOTENT_METHODS)),
  spec('io.l5d.http.retryableAll5XX', () => new HttpClassifier('io.l5d.http.retryableAll5XX', ALL_METHODS)),
  spec('io.l5d.http.allSuccessful', () => new HttpClassifier('io.l5d.http.allSuccessful', null, true)),
  // The io.l5d.h2.* kinds are built in h2.ts (h2ClassifierPlugins), for h2 routers only.
];

function httpKinds(): string[] {
  return classifierPlugins.filter((p) => p.create !== undefined).map((p) => p.kind);
}

/** The HTTP/1.1 classifier of a service config; an h2 kind is refused (h2 routers use createH2Classifier). */
export function createClassifier(config: Readonly<Record<string, unknown>> | undefined): ResponseClassifier {
  const kind = config?.['kind'] ?? DEFAULT_CLASSIFIER_KIND;
  const s = classifierPlugins.find((p) => p.kind === kind);
  if (s === undefined || s.create === undefined) {
    if (s === undefined && (H2_CLASSIFIER_KINDS as readonly unknown[]).includes(kind)) {
      throw new PluginError('MESH_ERR_PLUGIN_NOT_SUPPORTED', `responseClassifier: kind ${JSON.stringify(kind)} is for h2 routers; http routers take: ${httpKinds().join(', ')}`, 'kind');
    }
    const supported = httpKinds();
    throw new PluginError(
      s === undefined ? 'MESH_ERR_PLUGIN_UNKNOWN_KIND' : 'MESH_ERR_PLUGIN_NOT_SUPPORTED',
      `responseClassifier: ${s === undefined ? 'unknown' : 'unsupported'} kind ${JSON.stringify(kind)}; supported: ${supported.join(', ')}`,
      'kind',
    );
  }
  return s.create((config ?? {}) as Record<string, unknown>, undefined);
}
