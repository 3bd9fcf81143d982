import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Path } from '../../src/naming/path.js';
import { createIdentifier, createOneIdentifier, composeIdentifiers, identifierPlugins, splitAbsoluteForm } from '../../src/router/identifiers/index.js';
import type { IdentifyRequest, IdentifyResult } from '../../src/router/identifiers/index.js';
import { PluginError } from '../../src/router/plugin-errors.js';
import { parseRequestHead, Http1RequestHead } from '../../src/protocol/http1/request-head.js';
import { DEFAULT_LIMITS } from '../../src/protocol/http1/limits.js';

const svc = { dstPrefix: Path.utf8('svc') };

function req(method: string, url: string, headers: Record<string, string> = {}, httpVersion = '1.1'): IdentifyRequest {
  const lower: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) lower[k.toLowerCase()] = v;
  return { method, url, httpVersion, header: (n) => lower[n] };
}

function show(r: IdentifyResult): string {
  if (r.type === 'unidentified') return `unidentified: ${r.reason}${r.fatal ? ' (fatal)' : ''}`;
  return `${r.dst.show()}${r.rewrittenUrl !== undefined ? ' url=' + r.rewrittenUrl : ''}${r.rewrittenHost !== undefined ? ' host=' + r.rewrittenHost : ''}`;
}

test('default identifier is io.l5d.header.token on Host, value kept as one element', () => {
  const id = createIdentifier(undefined, svc);
  assert.equal(show(id.identify(req('GET', '/x', { Host: 'Web:8080' }))), '/svc/Web:8080');
  assert.equal(show(id.identify(req('GET', '/x'))), 'unidentified: Host header is absent');
  assert.equal(show(id.identify(req('GET', '/x', { Host: '' }))), 'unidentified: Host header is absent');
  // A value with a slash stays one element (shown escaped).
  assert.equal(show(id.identify(req('GET', '/x', { Host: 'a/b' }))), '/svc/\\x61\\x2f\\x62');
});

/** A request over a parsed engine head, with the in-place checks the router offers. */
function headReq(raw: string): IdentifyRequest {
  const h = parseRequestHead(Buffer.from(raw, 'latin1'), 0, DEFAULT_LIMITS);
  assert.ok(h instanceof Http1RequestHead);
  return {
    method: h.method,
    get url() { return h.target; },
    httpVersion: '1.1',
    header: (n) => h.header(n),
    originForm: h.buf[h.targetStart] === 0x2f,
    headerIs: (n, v) => h.headerIs(n, v),
  };
}

test('header.token answers repeated values from its last result, and only exact repeats', () => {
  const id = createIdentifier(undefined, svc);
  const seq: [string, string][] = [
    ['GET /a HTTP/1.1\r\nHost: dog\r\n\r\n', '/svc/dog'],
    ['GET /b HTTP/1.1\r\nhost:   dog \t\r\n\r\n', '/svc/dog'],
    ['GET /c HTTP/1.1\r\nHOST: Dog\r\n\r\n', '/svc/Dog'],
    ['GET /d HTTP/1.1\r\nHost: do\r\n\r\n', '/svc/do'],
    ['GET /e HTTP/1.1\r\nHost: dogs\r\n\r\n', '/svc/dogs'],
    ['GET /f HTTP/1.1\r\nX-Host: dogs\r\nHost: cat\r\n\r\n', '/svc/cat'],
    ['GET /g HTTP/1.0\r\n\r\n', 'unidentified: Host header is absent'],
    ['GET /h HTTP/1.0\r\nHost: cat\r\n\r\n', '/svc/cat'],
    ['GET http://web:8080/p?q HTTP/1.1\r\nHost: cat\r\n\r\n', '/svc/web:8080 url=/p?q host=web:8080'],
    ['GET /i HTTP/1.1\r\nHost: caf\xe9\r\n\r\n', '/svc/\\x63\\x61\\x66\\xc3\\xa9'],
    ['GET /j HTTP/1.1\r\nHost: caf\xe9\r\n\r\n', '/svc/\\x63\\x61\\x66\\xc3\\xa9'],
  ];
  // Twice through, so each value follows both a different and (next round) the same last one.
  for (let round = 0; round < 2; round++) for (const [raw, want] of seq) assert.equal(show(id.identify(headReq(raw))), want, raw);
});

test('header.token with a custom header', () => {
  const id = createIdentifier({ kind: 'io.l5d.header.token', header: 'My-Header' }, { dstPrefix: Path.utf8('http') });
  assert.equal(show(id.identify(req('GET', '/', { 'my-header': 'foo' }))), '/http/foo');
  assert.equal(show(id.identify(req('GET', '/', {}))), 'unidentified: My-Header header is absent');
});

test('io.l5d.header reads the value as a path; bad paths fail outright', () => {
  const id = createIdentifier({ kind: 'io.l5d.header' }, { dstPrefix: Path.utf8('http') });
  assert.equal(show(id.identify(req('GET', '/', { 'l5d-name': '/a/b/c' }))), '/http/a/b/c');
  assert.equal(show(id.identify(req('GET', '/', {}))), 'unidentified: l5d-name header is absent');
  assert.equal(
    show(id.identify(req('GET', '/', { 'l5d-name': 'invalid-param' }))),
    "unidentified: '/' expected but 'i' found at '[i]nvalid-param' (fatal)",
  );
  assert.equal(show(id.identify(req('GET', '/', { 'l5d-name': '/' }))), '/http');
});

test('io.l5d.methodAndHost', () => {
  const id = createIdentifier({ kind: 'io.l5d.methodAndHost' }, { dstPrefix: Path.utf8('https') });
  assert.equal(show(id.identify(req('GET', '/some/path?other=stuff', { Host: 'DoMaiN' }))), '/https/1.1/GET/domain');
  assert.equal(show(id.identify(req('GET', '/some/path?other=stuff'))), 'unidentified: HTTP/1.1 request missing hostname');
  assert.equal(show(id.identify(req('POST', '/drum/bass', {}, '1.0'))), '/https/1.0/POST');
  assert.equal(show(id.identify(req('GET', '/', {}, '2.0'))), 'unidentified: Unknown HTTP version HTTP/2.0');
  const uri = createIdentifier({ kind: 'io.l5d.methodAndHost', httpUriInDst: true }, { dstPrefix: Path.utf8('prefix') });
  assert.equal(show(uri.identify(req('GET', '/some/path?other=stuff', { host: 'domain' }))), '/prefix/1.1/GET/domain/some/path');
  assert.equal(show(uri.identify(req('POST', '/drum/bass', {}, '1.0'))), '/prefix/1.0/POST/drum/bass');
  assert.equal(show(uri.identify(req('GET', '/', { host: 'h' }))), '/prefix/1.1/GET/h');
  assert.equal(
    show(uri.identify(req('GET', '/foo/', { host: 'h' }))),
    "unidentified: label char expected but end of input found at '/foo/[]' (fatal)",
  );
});

test('io.l5d.path: segments and consume', () => {
  const two = createIdentifier({ kind: 'io.l5d.path', segments: 2 }, { dstPrefix: Path.utf8('http') });
  assert.equal(show(two.identify(req('GET', '/mysvc/subsvc'))), '/http/mysvc/subsvc');
  assert.equal(show(two.identify(req('GET', '/mysvc/subsvc/some/path?other=stuff'))), '/http/mysvc/subsvc');
  assert.equal(show(two.identify(req('GET', '/mysvc?other=stuff'))), 'unidentified: not enough segments in path');
  assert.equal(show(two.identify(req('GET', '/mysvc/subsvc/!'))), '/http/mysvc/subsvc');
  const consume = createIdentifier({ kind: 'io.l5d.path', segments: 2, consume: true }, { dstPrefix: Path.utf8('http') });
  const cases: [string, string][] = [
    ['/mysvc/subsvc/some/path?other=stuff', '/some/path?other=stuff'],
    ['/mysvc/subsvc', '/'],
    ['/mysvc/subsvc/', '/'],
    ['/mysvc/subsvc/path1/', '/path1/'],
    ['/mysvc/subsvc/path1', '/path1'],
    ['/mysvc/subsvc/path1/path2/', '/path1/path2/'],
    ['/mysvc/subsvc/path1/?foo=bar', '/path1/?foo=bar'],
    ['/mysvc/subsvc/path1?foo=bar/', '/path1?foo=bar/'],
  ];
  for (const [url, want] of cases) assert.equal(show(consume.identify(req('GET', url))), `/http/mysvc/subsvc url=${want}`, url);
  const one = createIdentifier({ kind: 'io.l5d.path', consume: true }, { dstPrefix: Path.utf8('http') });
  assert.equal(show(one.identify(req('GET', '/mysvc?other=stuff'))), '/http/mysvc url=/?other=stuff');
  assert.equal(show(one.identify(req('GET', '/mysvc/?other=stuff'))), '/http/mysvc url=/?other=stuff');
  assert.equal(show(one.identify(req('GET', '/'))), 'unidentified: not enough segments in path');
  assert.equal(show(one.identify(req('GET', '//x'))), 'unidentified: empty segment in path');
  // Java split semantics: inner empty pieces kept, trailing ones dropped.
  assert.equal(show(one.identify(req('GET', '/a//b'))), '/http/a url=//b');
  assert.equal(show(one.identify(req('GET', '/a///'))), '/http/a url=/');
  assert.equal(show(one.identify(req('GET', '/a/b//?q'))), '/http/a url=/b/?q');
  assert.equal(show(one.identify(req('GET', '*'))), 'unidentified: not enough segments in path');
  assert.equal(show(one.identify(req('GET', '/?x=/y'))), 'unidentified: not enough segments in path');
  assert.equal(show(one.identify(req('GET', '/caf\u00e9/x'))), '/http/\\x63\\x61\\x66\\xc3\\xa9 url=/x');
  assert.equal(show(two.identify(req('GET', '/a//'))), 'unidentified: not enough segments in path');
  assert.equal(show(two.identify(req('GET', '/a//b'))), 'unidentified: empty segment in path');
});

test('io.l5d.static prefixes the configured path', () => {
  const id = createIdentifier({ kind: 'io.l5d.static', path: '/foo/bar' }, svc);
  assert.equal(show(id.identify(req('GET', '/anything'))), '/svc/foo/bar');
  assert.throws(
    () => createIdentifier({ kind: 'io.l5d.static' }, svc),
    (e: unknown) => e instanceof PluginError && e.code === 'MESH_ERR_PLUGIN_MISSING_KEY' && e.message === "io.l5d.static: 'path' is required",
  );
});

test('a list is tried in order; a fatal result stops the list', () => {
  const id = createIdentifier(
    [{ kind: 'io.l5d.header', header: 'x-name' }, { kind: 'io.l5d.path' }],
    { dstPrefix: Path.utf8('svc') },
  );
  assert.equal(show(id.identify(req('GET', '/users/1', { 'x-name': '/a' }))), '/svc/a');
  assert.equal(show(id.identify(req('GET', '/users/1'))), '/svc/users');
  assert.equal(show(id.identify(req('GET', '/', {}))), 'unidentified: not enough segments in path');
  assert.equal(show(id.identify(req('GET', '/users', { 'x-name': 'bad' }))), "unidentified: '/' expected but 'b' found at '[b]ad' (fatal)");
  assert.throws(() => composeIdentifiers([]), (e: unknown) => e instanceof PluginError && e.code === 'MESH_ERR_PLUGIN_EMPTY_LIST');
});

test('proxy-form targets use the authority as Host and forward origin-form', () => {
  const id = createIdentifier(undefined, svc);
  assert.equal(show(id.identify(req('GET', 'http://world/x?y=1', { Host: 'proxy' }))), '/svc/world url=/x?y=1 host=world');
  assert.equal(show(id.identify(req('GET', 'http://acme.co:8080', {}))), '/svc/acme.co:8080 url=/ host=acme.co:8080');
  const path = createIdentifier({ kind: 'io.l5d.path', consume: true }, svc);
  assert.equal(show(path.identify(req('GET', 'http://w/users/7?q=R%26D'))), '/svc/users url=/7?q=R%26D host=w');
  assert.deepEqual(splitAbsoluteForm('/plain'), undefined);
  assert.deepEqual(splitAbsoluteForm('https://h:1/a#f'), { authority: 'h:1', target: '/a#f' });
});

test('unknown and unsupported kinds', () => {
  assert.throws(
    () => createOneIdentifier({ kind: 'io.l5d.nope' }, svc),
    (e: unknown) =>
      e instanceof PluginError &&
      e.code === 'MESH_ERR_PLUGIN_UNKNOWN_KIND' &&
      e.message === 'identifier: unknown kind "io.l5d.nope"; supported: io.l5d.header.token, io.l5d.methodAndHost, io.l5d.path, io.l5d.header, io.l5d.static, io.l5d.ingress',
  );
  assert.deepEqual(identifierPlugins.map((p) => p.category), ['identifier', 'identifier', 'identifier', 'identifier', 'identifier', 'identifier']);
  assert.throws(
    () => createOneIdentifier({ kind: 'io.l5d.path', segments: 0 }, svc),
    (e: unknown) => e instanceof PluginError && e.message === "io.l5d.path: 'segments' must be >= 1, found 0",
  );
});

