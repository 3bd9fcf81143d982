import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Path } from '../../../src/naming/path.js';
import { createH2Identifier, H2HeadersView } from '../../../src/router/h2/identifiers.js';
import type { IdentifyResult } from '../../../src/router/identifiers/identifier.js';

const ctx = { dstPrefix: Path.utf8('svc') };
const show = (r: IdentifyResult): string => (r.type === 'identified' ? r.dst.show() : `unidentified: ${r.reason}`);
const view = (h: Record<string, string | string[]>): H2HeadersView => new H2HeadersView(h);

test('io.l5d.header.token is the default and reads :authority', () => {
  const id = createH2Identifier(undefined, ctx);
  assert.equal(id.kind, 'io.l5d.header.token');
  assert.equal(show(id.identify(view({ ':authority': 'web:8080', ':path': '/a' }))), '/svc/web:8080');
  assert.equal(show(id.identify(view({ ':path': '/a' }))), 'unidentified: :authority header is absent');
});

test('io.l5d.header.token reads a named header, the last of repeated values', () => {
  const id = createH2Identifier({ kind: 'io.l5d.header.token', header: 'My-Header' }, { dstPrefix: Path.utf8('h2') });
  assert.equal(show(id.identify(view({ 'my-header': ['first', 'second'] }))), '/h2/second');
});

test('io.l5d.header.path with segments 1 names a gRPC service', () => {
  const id = createH2Identifier({ kind: 'io.l5d.header.path', segments: 1 }, ctx);
  assert.equal(show(id.identify(view({ ':path': '/helloworld.Greeter/SayHello' }))), '/svc/helloworld.Greeter');
  assert.equal(show(id.identify(view({ ':path': '/' }))), 'unidentified: Path must have at least 1 segment(s)');
});

test('io.l5d.header.path without segments takes the whole path, query cut off', () => {
  const id = createH2Identifier({ kind: 'io.l5d.header.path' }, ctx);
  assert.equal(show(id.identify(view({ ':path': '/true/love/waits.php?thing=1' }))), '/svc/true/love/waits.php');
  assert.equal(show(id.identify(view({ ':path': '/' }))), 'unidentified: Missing destination path');
  const two = createH2Identifier({ kind: 'io.l5d.header.path', segments: 2 }, ctx);
  assert.equal(show(two.identify(view({ ':path': '/true/love/waits.php?thing=1' }))), '/svc/true/love');
});

test('a list of identifiers is tried in order', () => {
  const id = createH2Identifier([{ kind: 'io.l5d.header.token', header: 'x-name' }, { kind: 'io.l5d.header.path', segments: 1 }], ctx);
  assert.equal(show(id.identify(view({ 'x-name': 'named', ':path': '/p/q' }))), '/svc/named');
  assert.equal(show(id.identify(view({ ':path': '/p/q' }))), '/svc/p');
});

test('identifier kinds not built for h2 are refused', () => {
  assert.throws(
    () => createH2Identifier({ kind: 'io.l5d.k8s.istio' }, ctx),
    (e: Error & { code?: string }) => e.code === 'MESH_ERR_PLUGIN_NOT_SUPPORTED' && e.message.endsWith('supported: io.l5d.header.token, io.l5d.header.path, io.l5d.ingress'),
  );
});
