/**
 * The io.l5d.h2.* response classifiers. Expected classes are written out from Linkerd 1.x:
 * - 5XX kinds: finagle/h2/src/main/scala/com/twitter/finagle/buoyant/h2/service/H2Classifiers.scala
 *   (responseClassifier decides 5XX and errors at the headers; streamClassifier is Success
 *   unless the final frame is an error; RetryableResult = 5XX, or an error that
 *   RetryPolicy.TimeoutAndWriteExceptionsOnly / ChannelClosedExceptionsOnly accepts).
 * - gRPC kinds: linkerd/protocol/h2/src/main/scala/io/buoyant/linkerd/protocol/h2/grpc/GrpcClassifier.scala
 *   (grpc-status of a trailers-only response at the headers, then 4XX/5XX by HTTP status, else
 *   at the final frame: grpc-status of the trailers, else NonRetryableFailure), with
 *   grpc/runtime/.../GrpcStatus.scala for parsing (non-numeric in headers = UNKNOWN (2), in
 *   trailers = absent) and GrpcClassifierConfig.scala for `successStatusCodes` (default [0]).
 * - When each side is asked: router/h2/src/main/scala/io/buoyant/router/h2/ClassifierFilter.scala.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { IncomingHttpHeaders } from 'node:http2';
import { implementPlugin, registerPlugin } from '../../../src/config/plugins.js';
import { parseLinkerdConfig } from '../../../src/config/load.js';
import { ConfigError, type ConfigIssue } from '../../../src/config/errors.js';
import '../../../src/router/register-plugins.js';
import {
  createClassifier,
  createH2Classifier,
  DEFAULT_H2_CLASSIFIER_KIND,
  H2_CLASSIFIER_KINDS,
  h2ClassifierPlugins,
  isRefusedStream,
  type H2ResponseClassifier,
} from '../../../src/router/classifiers/index.js';
import { RouterError } from '../../../src/router/errors.js';
import { PluginError } from '../../../src/router/plugin-errors.js';

const METHODS = ['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'POST', 'PATCH'];
const notWritten = new RouterError('MESH_ERR_ROUTER_CONNECT_FAILED', 'connect refused', { retryable: true });
const timedOut = new RouterError('MESH_ERR_ROUTER_TIMEOUT', 'timeout', { interrupted: true });
const connReset = new RouterError('MESH_ERR_ROUTER_UPSTREAM_RESET', 'connection reset');
const other = new Error('boom');
/** An upstream RST_STREAM(REFUSED_STREAM) as node:http2 reports it. */
const refused = Object.assign(new Error('Stream closed with error code NGHTTP2_REFUSED_STREAM'), { code: 'ERR_HTTP2_STREAM_ERROR' });
const refusedByCode = Object.assign(new Error('reset'), { rstCode: 7 });
const refusedWrapped = new RouterError('MESH_ERR_ROUTER_UPSTREAM_RESET', 'stream reset', {}, { cause: refusedByCode });
const cancelled = Object.assign(new Error('Stream closed with error code NGHTTP2_CANCEL'), { code: 'ERR_HTTP2_STREAM_ERROR', rstCode: 8 });

const letter = (c: string | undefined): string => (c === undefined ? 'u' : c[0]!);

/** One letter per method: s(uccess) f(ailure) r(etryable) u(ndecided at the headers). */
function atHeaders(c: H2ResponseClassifier, status: number, headers: IncomingHttpHeaders = {}): string {
  return METHODS.map((m) => letter(c.classifyHeaders(m, status, { ':status': String(status), ...headers }))).join('');
}
function atEnd(c: H2ResponseClassifier, status: number, headers: IncomingHttpHeaders = {}, trailers: IncomingHttpHeaders = {}): string {
  return METHODS.map((m) => letter(c.classifyEnd(m, status, { ':status': String(status), ...headers }, trailers))).join('');
}
function onError(c: H2ResponseClassifier, err: Error, started: boolean): string {
  return METHODS.map((m) => letter(c.classifyError(m, err, started))).join('');
}

interface StatusKindRow {
  readonly kind: string;
  /** The class of a 5XX (at the headers and at the end), per method. */
  readonly fiveXX: string;
  /** A retryable (timeout / not written / connection reset) error, per method. */
  readonly retryableErr: string;
}

// Methods: GET HEAD OPTIONS PUT DELETE POST PATCH
const STATUS_KINDS: readonly StatusKindRow[] = [
  { kind: 'io.l5d.h2.nonRetryable5XX', fiveXX: 'fffffff', retryableErr: 'fffffff' },
  { kind: 'io.l5d.h2.retryableRead5XX', fiveXX: 'rrrffff', retryableErr: 'rrrffff' },
  { kind: 'io.l5d.h2.retryableIdempotent5XX', fiveXX: 'rrrrrff', retryableErr: 'rrrrrff' },
  { kind: 'io.l5d.h2.retryableAll5XX', fiveXX: 'rrrrrrr', retryableErr: 'rrrrrrr' },
  { kind: 'io.l5d.h2.allSuccessful', fiveXX: 'sssssss', retryableErr: 'fffffff' },
];

for (const row of STATUS_KINDS) {
  test(`${row.kind}: statuses, errors before and after the response started`, () => {
    const c = createH2Classifier({ kind: row.kind });
    assert.equal(c.kind, row.kind);
    const early = row.kind === 'io.l5d.h2.allSuccessful' ? 'uuuuuuu' : row.fiveXX;
    for (const status of [200, 404]) {
      // A non-5XX response is a success only once its stream ends cleanly.
      assert.equal(atHeaders(c, status), 'uuuuuuu', `${status} at headers`);
      assert.equal(atEnd(c, status), 'sssssss', `${status} at end`);
      assert.equal(atEnd(c, status, {}, { 'grpc-status': '13' }), 'sssssss', `${status} ignores grpc-status`);
    }
    for (const status of [500, 503]) {
      assert.equal(atHeaders(c, status), early, `${status} at headers`);
      assert.equal(atEnd(c, status), row.fiveXX, `${status} at end`);
    }
    // h2 classifiers do not read l5d-retryable (unlike the HTTP/1.1 ones).
    assert.equal(atHeaders(c, 500, { 'l5d-retryable': 'true' }), early);
    for (const started of [false, true]) {
      for (const err of [notWritten, timedOut, connReset]) assert.equal(onError(c, err, started), row.retryableErr, `${err.message} started=${started}`);
      for (const err of [other, refused, cancelled]) assert.equal(onError(c, err, started), 'fffffff', `${err.message} started=${started}`);
    }
    // TRACE is a read method; CONNECT is in no list.
    if (row.kind !== 'io.l5d.h2.allSuccessful') {
      assert.equal(c.classifyHeaders('TRACE', 502, {}), row.kind === 'io.l5d.h2.nonRetryable5XX' ? 'failure' : 'retryable-failure');
      assert.equal(c.classifyHeaders('CONNECT', 502, {}), 'failure');
    }
  });
}

test('io.l5d.h2.nonRetryable5XX is the default', () => {
  assert.equal(DEFAULT_H2_CLASSIFIER_KIND, 'io.l5d.h2.nonRetryable5XX');
  assert.equal(createH2Classifier(undefined).kind, 'io.l5d.h2.nonRetryable5XX');
  assert.equal(createH2Classifier({}).kind, 'io.l5d.h2.nonRetryable5XX');
  assert.equal(createH2Classifier(undefined).classifyHeaders('GET', 599, {}), 'failure');
  assert.equal(createH2Classifier(undefined).classifyHeaders('GET', 499, {}), undefined);
  assert.equal(createH2Classifier(undefined).classifyHeaders('GET', 600, {}), undefined);
});

// gRPC status codes probed, in this order.
const CODES = [0, 1, 2, 3, 4, 5, 13, 14, 16, 100];

interface GrpcRow {
  readonly name: string;
  readonly config: Record<string, unknown>;
  /** The class of each code of CODES (whether it comes in headers or trailers). */
  readonly codes: string;
  /** HTTP 200 404 429 500 502 503 504 without grpc-status, at the headers. */
  readonly http: string;
  /** A refused stream (RST_STREAM REFUSED_STREAM) before/after the response started. */
  readonly refusedErr: 'r' | 'f';
}

const GRPC_KINDS: readonly GrpcRow[] = [
  { name: 'default', config: { kind: 'io.l5d.h2.grpc.default' }, codes: 'sffffffrff', http: 'uffffff', refusedErr: 'f' },
  { name: 'compliant', config: { kind: 'io.l5d.h2.grpc.compliant' }, codes: 'sffffffrff', http: 'ufrfrrr', refusedErr: 'r' },
  { name: 'alwaysRetryable', config: { kind: 'io.l5d.h2.grpc.alwaysRetryable' }, codes: 'srrrrrrrrr', http: 'uffffff', refusedErr: 'f' },
  { name: 'neverRetryable', config: { kind: 'io.l5d.h2.grpc.neverRetryable' }, codes: 'sfffffffff', http: 'uffffff', refusedErr: 'f' },
  {
    name: 'retryableStatusCodes [2,5,14,100]',
    config: { kind: 'io.l5d.h2.grpc.retryableStatusCodes', retryableStatusCodes: [2, 5, 14, 100] },
    codes: 'sfrffrfrfr',
    http: 'uffffff',
    refusedErr: 'f',
  },
  {
    name: 'default, successStatusCodes [0,3,5]',
    config: { kind: 'io.l5d.h2.grpc.default', successStatusCodes: [0, 3, 5] },
    codes: 'sffsfsfrff',
    http: 'uffffff',
    refusedErr: 'f',
  },
  {
    // The docs: with successStatusCodes, OK is a success only if listed.
    name: 'neverRetryable, successStatusCodes [3]',
    config: { kind: 'io.l5d.h2.grpc.neverRetryable', successStatusCodes: [3] },
    codes: 'fffsffffff',
    http: 'uffffff',
    refusedErr: 'f',
  },
  {
    // Success wins over retryable.
    name: 'retryableStatusCodes [2,5,14,100], successStatusCodes [5,14]',
    config: { kind: 'io.l5d.h2.grpc.retryableStatusCodes', retryableStatusCodes: [2, 5, 14, 100], successStatusCodes: [5, 14] },
    codes: 'ffrffsfsfr',
    http: 'uffffff',
    refusedErr: 'f',
  },
  {
    name: 'alwaysRetryable, successStatusCodes []',
    config: { kind: 'io.l5d.h2.grpc.alwaysRetryable', successStatusCodes: [] },
    codes: 'rrrrrrrrrr',
    http: 'uffffff',
    refusedErr: 'f',
  },
];

const grpcLetter = (c: H2ResponseClassifier, f: (c: H2ResponseClassifier) => string | undefined): string => letter(f(c));

for (const row of GRPC_KINDS) {
  test(`io.l5d.h2.grpc ${row.name}: grpc-status in trailers, in headers, absent; HTTP statuses; errors`, () => {
    const c = createH2Classifier(row.config);
    assert.equal(c.kind, row.config['kind']);
    const inTrailers = CODES.map((code) => {
      // A normal gRPC response: 200 headers without grpc-status, the status in trailers.
      assert.equal(c.classifyHeaders('POST', 200, { ':status': '200', 'content-type': 'application/grpc' }), undefined);
      return grpcLetter(c, (x) => x.classifyEnd('POST', 200, { 'content-type': 'application/grpc' }, { 'grpc-status': String(code), 'grpc-message': 'm' }));
    }).join('');
    assert.equal(inTrailers, row.codes, 'grpc-status in trailers');
    const inHeaders = CODES.map((code) => grpcLetter(c, (x) => x.classifyHeaders('POST', 200, { 'grpc-status': String(code) }))).join('');
    assert.equal(inHeaders, row.codes, 'grpc-status in headers (trailers-only)');
    const inHeadersAtEnd = CODES.map((code) => grpcLetter(c, (x) => x.classifyEnd('POST', 200, { 'grpc-status': String(code) }, {}))).join('');
    assert.equal(inHeadersAtEnd, row.codes, 'classifyEnd agrees with classifyHeaders');
    // Headers win over the HTTP status: a 503 carrying grpc-status is classified by the code.
    assert.equal(letter(c.classifyHeaders('GET', 503, { 'grpc-status': '0' })), row.codes[0]);
    // The method does not matter for gRPC kinds.
    assert.equal(atEnd(c, 200, {}, { 'grpc-status': '14' }), row.codes[7]!.repeat(7));

    const http = [200, 404, 429, 500, 502, 503, 504].map((s) => letter(c.classifyHeaders('POST', s, {}))).join('');
    assert.equal(http, row.http, 'HTTP statuses without grpc-status');
    // A stream that ends without grpc-status is a non-retryable failure.
    assert.equal(letter(c.classifyEnd('POST', 200, {}, {})), 'f', 'absent');
    assert.equal(letter(c.classifyEnd('POST', 200, {}, { 'x-other': '1' })), 'f', 'absent among trailers');
    // Non-numeric grpc-status: absent in trailers, UNKNOWN (2) in headers.
    assert.equal(letter(c.classifyEnd('POST', 200, {}, { 'grpc-status': 'abc' })), 'f');
    assert.equal(letter(c.classifyEnd('POST', 200, {}, { 'grpc-status': ' 0' })), 'f');
    assert.equal(letter(c.classifyHeaders('POST', 200, { 'grpc-status': 'abc' })), row.codes[2]);
    assert.equal(letter(c.classifyEnd('POST', 200, {}, { 'grpc-status': '+0' })), row.codes[0], 'Integer.parseInt accepts a sign');
    assert.equal(letter(c.classifyEnd('POST', 200, {}, { 'grpc-status': '014' })), row.codes[7]);
    // A repeated field: the first value counts, as Finagle's Headers.get.
    assert.equal(letter(c.classifyEnd('POST', 200, {}, { 'grpc-status': ['14', '0'] })), row.codes[7]);
    assert.equal(letter(c.classifyHeaders('POST', 200, { 'grpc-status': ['14', '0'] })), row.codes[7]);

    for (const started of [false, true]) {
      for (const err of [refused, refusedByCode, refusedWrapped]) {
        assert.equal(onError(c, err, started), row.refusedErr.repeat(7), `${err.message} started=${started}`);
      }
      for (const err of [notWritten, timedOut, connReset, other, cancelled]) {
        assert.equal(onError(c, err, started), 'fffffff', `${err.message} started=${started}`);
      }
    }
  });
}

test('isRefusedStream reads rstCode, the node message, a flag and causes', () => {
  assert.equal(isRefusedStream(refused), true);
  assert.equal(isRefusedStream(refusedByCode), true);
  assert.equal(isRefusedStream(refusedWrapped), true);
  assert.equal(isRefusedStream(Object.assign(new Error('x'), { refusedStream: true })), true);
  assert.equal(isRefusedStream(cancelled), false);
  assert.equal(isRefusedStream(connReset), false);
  assert.equal(isRefusedStream(undefined), false);
});

test('createH2Classifier refuses unknown kinds and bad keys with stable codes', () => {
  const supported = H2_CLASSIFIER_KINDS.join(', ');
  assert.equal(
    supported,
    'io.l5d.h2.nonRetryable5XX, io.l5d.h2.retryableRead5XX, io.l5d.h2.retryableIdempotent5XX, io.l5d.h2.retryableAll5XX, io.l5d.h2.allSuccessful, ' +
      'io.l5d.h2.grpc.default, io.l5d.h2.grpc.compliant, io.l5d.h2.grpc.alwaysRetryable, io.l5d.h2.grpc.neverRetryable, io.l5d.h2.grpc.retryableStatusCodes',
  );
  const fails = (cfg: Record<string, unknown>, code: string, message: string, key: string): void => {
    assert.throws(
      () => createH2Classifier(cfg),
      (e: unknown) => e instanceof PluginError && e.code === code && e.message === message && e.key === key,
    );
  };
  fails({ kind: 'io.l5d.h2.retryable5XX' }, 'MESH_ERR_PLUGIN_UNKNOWN_KIND', `responseClassifier: unknown kind "io.l5d.h2.retryable5XX"; supported: ${supported}`, 'kind');
  fails({ kind: 'io.l5d.http.retryableRead5XX' }, 'MESH_ERR_PLUGIN_UNKNOWN_KIND', `responseClassifier: unknown kind "io.l5d.http.retryableRead5XX"; supported: ${supported}`, 'kind');
  fails({ kind: 'toString' }, 'MESH_ERR_PLUGIN_UNKNOWN_KIND', `responseClassifier: unknown kind "toString"; supported: ${supported}`, 'kind');
  fails({ kind: 7 }, 'MESH_ERR_PLUGIN_UNKNOWN_KIND', `responseClassifier: unknown kind 7; supported: ${supported}`, 'kind');
  fails(
    { kind: 'io.l5d.h2.grpc.retryableStatusCodes' },
    'MESH_ERR_PLUGIN_MISSING_KEY',
    "io.l5d.h2.grpc.retryableStatusCodes: 'retryableStatusCodes' is required",
    'retryableStatusCodes',
  );
  fails(
    { kind: 'io.l5d.h2.grpc.default', successStatusCodes: 0 },
    'MESH_ERR_PLUGIN_BAD_VALUE',
    "io.l5d.h2.grpc.default: 'successStatusCodes' must be a list of integers, found 0",
    'successStatusCodes',
  );
  fails(
    { kind: 'io.l5d.h2.grpc.retryableStatusCodes', retryableStatusCodes: [14, 'UNAVAILABLE'] },
    'MESH_ERR_PLUGIN_BAD_VALUE',
    'io.l5d.h2.grpc.retryableStatusCodes: \'retryableStatusCodes\' must be a list of integers, found [14,"UNAVAILABLE"]',
    'retryableStatusCodes',
  );
});

test('the HTTP/1.1 registry refuses h2 kinds; h2ClassifierPlugins builds them', () => {
  assert.throws(
    () => createClassifier({ kind: 'io.l5d.h2.retryableRead5XX' }),
    (e: unknown) =>
      e instanceof PluginError &&
      e.code === 'MESH_ERR_PLUGIN_NOT_SUPPORTED' &&
      e.message ===
        'responseClassifier: kind "io.l5d.h2.retryableRead5XX" is for h2 routers; http routers take: io.l5d.http.nonRetryable5XX, io.l5d.http.retryableRead5XX, io.l5d.http.retryableIdempotent5XX, io.l5d.http.retryableAll5XX, io.l5d.http.allSuccessful',
  );
  assert.deepEqual(h2ClassifierPlugins.map((p) => p.kind), H2_CLASSIFIER_KINDS);
  assert.ok(h2ClassifierPlugins.every((p) => p.category === 'responseClassifier' && p.create !== undefined));
  const spec = h2ClassifierPlugins.find((p) => p.kind === 'io.l5d.h2.grpc.retryableStatusCodes')!;
  const made = spec.create!({ kind: 'io.l5d.h2.grpc.retryableStatusCodes', retryableStatusCodes: [4], successStatusCodes: [0] }, undefined);
  assert.equal(made.kind, 'io.l5d.h2.grpc.retryableStatusCodes');
  assert.equal(made.classifyEnd('GET', 200, {}, { 'grpc-status': '4' }), 'retryable-failure');
});

// --- config level: which classifier kinds each router protocol accepts ----------------------

// This file plays the area that builds h2 routers, so the classifier checks can be seen alone.
implementPlugin('protocol', 'http', () => ({}));
implementPlugin('protocol', 'h2', () => ({}));
implementPlugin('interpreter', 'default', () => ({}));
for (const spec of h2ClassifierPlugins) registerPlugin(spec);

function issues(yaml: string): ConfigIssue[] {
  try {
    parseLinkerdConfig(yaml, 'linkerd.yaml');
  } catch (e) {
    assert.ok(e instanceof ConfigError, `expected ConfigError, got ${String(e)}`);
    return [...e.errors];
  }
  return [];
}

const H2_TAKE = H2_CLASSIFIER_KINDS.join(', ');
const HTTP_TAKE = 'io.l5d.http.nonRetryable5XX, io.l5d.http.retryableRead5XX, io.l5d.http.retryableIdempotent5XX, io.l5d.http.retryableAll5XX, io.l5d.http.allSuccessful';

test('config: io.l5d.h2.* classifiers on an http router are refused', () => {
  const got = issues(`
routers:
- protocol: http
  service:
    responseClassifier: {kind: io.l5d.h2.grpc.default}
  servers: [{port: 4140}]
`);
  assert.deepEqual(
    got.map((i) => [i.code, i.keyPath, i.found, i.message]),
    [[
      'MESH_ERR_CONFIG_UNKNOWN_KIND',
      'routers[0].service.responseClassifier.kind',
      'io.l5d.h2.grpc.default',
      `linkerd.yaml: routers[0].service.responseClassifier.kind: kind 'io.l5d.h2.grpc.default' is not a http response classifier; http routers take: ${HTTP_TAKE}`,
    ]],
  );
});

test('config: io.l5d.http.* classifiers on an h2 router are refused, also per static service config', () => {
  const got = issues(`
routers:
- protocol: h2
  service:
    kind: io.l5d.static
    configs:
    - prefix: /svc/a
      responseClassifier: {kind: io.l5d.h2.grpc.compliant}
    - prefix: /svc/b
      responseClassifier: {kind: io.l5d.http.retryableRead5XX}
  servers: [{port: 4142}]
`);
  assert.deepEqual(
    got.map((i) => [i.code, i.keyPath, i.found, i.message]),
    [[
      'MESH_ERR_CONFIG_UNKNOWN_KIND',
      'routers[0].service.configs[1].responseClassifier.kind',
      'io.l5d.http.retryableRead5XX',
      `linkerd.yaml: routers[0].service.configs[1].responseClassifier.kind: kind 'io.l5d.http.retryableRead5XX' is not a h2 response classifier; h2 routers take: ${H2_TAKE}`,
    ]],
  );
});

test('config: an h2 router takes every io.l5d.h2.* kind with its documented keys', () => {
  for (const kind of H2_CLASSIFIER_KINDS) {
    const extra = kind === 'io.l5d.h2.grpc.retryableStatusCodes' ? ', retryableStatusCodes: [2, 14]' : '';
    const cfg = parseLinkerdConfig(`
routers:
- protocol: h2
  service:
    responseClassifier: {kind: ${kind}${extra}}
  servers: [{port: 4142}]
`, 'linkerd.yaml');
    const rc = (cfg.routers[0]!.service as unknown as { configs: { responseClassifier: Record<string, unknown> }[] }).configs[0]!.responseClassifier;
    assert.equal(rc['kind'], kind);
    // The validated config builds (defaults applied: successStatusCodes [0]).
    assert.equal(createH2Classifier(rc).kind, kind);
  }
  const missing = issues(`
routers:
- protocol: h2
  service:
    responseClassifier: {kind: io.l5d.h2.grpc.retryableStatusCodes, successStatusCodes: [0, 5]}
  servers: [{port: 4142}]
`);
  assert.deepEqual(missing.map((i) => [i.code, i.keyPath]), [['MESH_ERR_CONFIG_MISSING_KEY', 'routers[0].service.responseClassifier.retryableStatusCodes']]);
  const bad = issues(`
routers:
- protocol: h2
  service:
    responseClassifier: {kind: io.l5d.h2.grpc.default, successStatusCodes: [OK]}
  servers: [{port: 4142}]
`);
  assert.deepEqual(bad.map((i) => [i.code, i.keyPath]), [['MESH_ERR_CONFIG_TYPE', 'routers[0].service.responseClassifier.successStatusCodes[0]']]);
});
