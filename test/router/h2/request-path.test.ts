/**
 * An h2 request's `:path` must be a request target (RFC 9113 8.3.1, RFC 3986): bytes nghttp2 lets
 * through (0x80-0xff) or a `#` get 400 with the reason, as the HTTP/1.1 engine answers such a
 * request line; a path with percent-encoded bytes, a query and `*` for OPTIONS is routed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as http2 from 'node:http2';
import { connectH2, startH2Router, startH2Upstream } from '../../support/h2.js';

function call(session: http2.ClientHttp2Session, headers: http2.OutgoingHttpHeaders): Promise<{ status: number; err: string | undefined; body: string }> {
  return new Promise((resolve, reject) => {
    const st = session.request(headers, { endStream: true });
    let status = 0;
    let err: string | undefined;
    let body = '';
    st.on('response', (h) => {
      status = Number(h[':status']);
      err = h['l5d-err'] as string | undefined;
    });
    st.setEncoding('latin1');
    st.on('data', (c: string) => (body += c));
    st.on('end', () => resolve({ status, err, body }));
    st.on('error', reject);
  });
}

test('an h2 :path with a byte a request target cannot hold is answered 400; a valid one is routed', async (t) => {
  const up = await startH2Upstream((s, h) => {
    s.respond({ ':status': 200 });
    s.end(`up:${String(h[':path'])}`);
  });
  t.after(() => up.close());
  const r = await startH2Router(up.port, {});
  t.after(() => r.close());
  const session = await connectH2(r.port);
  t.after(() => session.destroy());
  const bad = await call(session, { ':path': '/s1\xa0718' });
  assert.equal(bad.status, 400);
  assert.equal(bad.err, ':path has byte 0xa0 at offset 3, which a request target cannot hold');
  const frag = await call(session, { ':path': '/a#b' });
  assert.equal(frag.status, 400);
  assert.match(frag.err ?? '', /byte 0x23 at offset 2/);
  const ok = await call(session, { ':path': '/a%C2%A0b?q=1&r=%20' });
  assert.deepEqual([ok.status, ok.body], [200, 'up:/a%C2%A0b?q=1&r=%20']);
  const star = await call(session, { ':method': 'OPTIONS', ':path': '*' });
  assert.deepEqual([star.status, star.body], [200, 'up:*']);
});
