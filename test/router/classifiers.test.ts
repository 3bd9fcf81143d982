import { test } from 'node:test';
import assert from 'node:assert/strict';
import { classifierPlugins, createClassifier } from '../../src/router/classifiers/index.js';
import type { ResponseClassifier } from '../../src/router/classifiers/index.js';
import { RouterError } from '../../src/router/errors.js';
import { PluginError } from '../../src/router/plugin-errors.js';

const METHODS = ['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE', 'PATCH', 'POST', 'CONNECT'];
const notWritten = new RouterError('MESH_ERR_ROUTER_CONNECT_FAILED', 'connect refused', { retryable: true });
const timedOut = new RouterError('MESH_ERR_ROUTER_TIMEOUT', 'timeout', { interrupted: true });
const reset = new RouterError('MESH_ERR_ROUTER_UPSTREAM_RESET', 'reset');
const other = new Error('boom');

/** One letter per method: s(uccess) f(ailure) r(etryable). */
function row(c: ResponseClassifier, status: number | undefined, err: unknown, hdr = false, chunked = false): string {
  return METHODS.map((m) => c.classify(m, status, err, hdr, chunked)[0]).join('');
}

test('io.l5d.http.nonRetryable5XX is the default', () => {
  const c = createClassifier(undefined);
  assert.equal(c.kind, 'io.l5d.http.nonRetryable5XX');
  assert.equal(row(c, 200, undefined), 'sssssssss');
  assert.equal(row(c, 404, undefined), 'sssssssss');
  assert.equal(row(c, 500, undefined), 'fffffffff');
  assert.equal(row(c, 503, undefined), 'fffffffff');
  assert.equal(row(c, undefined, notWritten), 'fffffffff');
  // l5d-retryable: true on a failure makes it retryable, unless the body is chunked.
  assert.equal(row(c, 502, undefined, true), 'rrrrrrrrr');
  assert.equal(row(c, 502, undefined, true, true), 'fffffffff');
  assert.equal(row(c, 200, undefined, true), 'sssssssss');
});

test('retryableRead5XX / Idempotent / All retry 5XX and retryable errors by method', () => {
  const read = createClassifier({ kind: 'io.l5d.http.retryableRead5XX' });
  const idem = createClassifier({ kind: 'io.l5d.http.retryableIdempotent5XX' });
  const all = createClassifier({ kind: 'io.l5d.http.retryableAll5XX' });
  //                     GET HEAD OPTIONS TRACE PUT DELETE PATCH POST CONNECT
  assert.equal(row(read, 500, undefined), 'rrrrfffff');
  assert.equal(row(idem, 500, undefined), 'rrrrrrfff');
  assert.equal(row(all, 500, undefined), 'rrrrrrrrf');
  assert.equal(row(all, 599, undefined), 'rrrrrrrrf');
  assert.equal(row(all, 600, undefined), 'sssssssss');
  assert.equal(row(all, 499, undefined), 'sssssssss');
  for (const e of [notWritten, timedOut, reset]) {
    assert.equal(row(read, undefined, e), 'rrrrfffff');
    assert.equal(row(idem, undefined, e), 'rrrrrrfff');
  }
  assert.equal(row(all, undefined, other), 'fffffffff');
  assert.equal(row(all, undefined, { retryable: true }), 'rrrrrrrrf');
  // Chunked requests are never retryable; the header rescues non-matching methods.
  assert.equal(row(all, 500, undefined, false, true), 'fffffffff');
  assert.equal(row(read, 500, undefined, true), 'rrrrrrrrr');
});

test('io.l5d.http.allSuccessful', () => {
  const c = createClassifier({ kind: 'io.l5d.http.allSuccessful' });
  assert.equal(row(c, 500, undefined), 'sssssssss');
  assert.equal(row(c, 503, undefined, true), 'sssssssss');
  assert.equal(row(c, undefined, notWritten), 'fffffffff');
});

test('registry lists Linkerd kinds; h2 kinds are recognised but not built', () => {
  assert.deepEqual(
    classifierPlugins.filter((p) => p.create !== undefined).map((p) => p.kind),
    ['io.l5d.http.nonRetryable5XX', 'io.l5d.http.retryableRead5XX', 'io.l5d.http.retryableIdempotent5XX', 'io.l5d.http.retryableAll5XX', 'io.l5d.http.allSuccessful'],
  );
  assert.throws(
    () => createClassifier({ kind: 'io.l5d.h2.grpc.default' }),
    (e: unknown) => e instanceof PluginError && e.code === 'MESH_ERR_PLUGIN_NOT_SUPPORTED',
  );
  assert.throws(
    () => createClassifier({ kind: 'io.l5d.http.retryable5XX' }),
    (e: unknown) =>
      e instanceof PluginError &&
      e.code === 'MESH_ERR_PLUGIN_UNKNOWN_KIND' &&
      e.message ===
        'responseClassifier: unknown kind "io.l5d.http.retryable5XX"; supported: io.l5d.http.nonRetryable5XX, io.l5d.http.retryableRead5XX, io.l5d.http.retryableIdempotent5XX, io.l5d.http.retryableAll5XX, io.l5d.http.allSuccessful',
  );
});
