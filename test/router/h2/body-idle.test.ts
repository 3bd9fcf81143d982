/**
 * A request body that stops coming through the h2 router: `serverSession.idleTimeMs` bounds the
 * caller's silence while its body is unfinished and the router is ready to read it (as it does
 * for HTTP/1.1). The caller gets 408 and then RST_STREAM NO_ERROR, and the upstream stream is
 * cancelled; a body that trickles in, or that the router holds back because the upstream is not
 * reading, is forwarded whole.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as http2 from 'node:http2';
import { connectH2, startH2Router, startH2Upstream, type StartedH2Upstream } from '../../support/h2.js';

const { NGHTTP2_NO_ERROR, NGHTTP2_CANCEL } = http2.constants;

interface Answer {
  status: number;
  headers: http2.IncomingHttpHeaders;
  body: string;
  /** The stream's RST_STREAM code once closed (0 for NO_ERROR or none). */
  rstCode: number;
}

/** Reads `st` to its close; rejects if it has not closed within `ms`. */
function answer(st: http2.ClientHttp2Stream, ms: number): Promise<Answer> {
  return new Promise((resolve, reject) => {
    let status = 0;
    let headers: http2.IncomingHttpHeaders = {};
    let body = '';
    const t = setTimeout(() => {
      st.close(NGHTTP2_CANCEL);
      reject(new Error(`stream not closed within ${ms} ms (status ${status}, body ${JSON.stringify(body)})`));
    }, ms);
    st.on('response', (h) => {
      headers = h;
      status = Number(h[':status']);
    });
    st.setEncoding('utf8');
    st.on('data', (c: string) => (body += c));
    st.on('error', () => {});
    st.on('close', () => {
      clearTimeout(t);
      resolve({ status, headers, body, rstCode: st.rstCode ?? 0 });
    });
  });
}

/** An upstream that answers with the length of the body it read; `held` gets each stream first. */
function lengthUpstream(held?: (s: http2.ServerHttp2Stream) => void): Promise<StartedH2Upstream> {
  return startH2Upstream((s) => {
    let n = 0;
    s.on('data', (c: Buffer) => (n += c.length));
    s.on('end', () => {
      if (s.destroyed || s.closed) return;
      s.respond({ ':status': 200 });
      s.end(String(n));
    });
    held?.(s);
  });
}

test('a request body that stalls gets 408 after idleTimeMs; the upstream stream is cancelled', async () => {
  let upstreamClosed: (code: number) => void = () => {};
  const upClosed = new Promise<number>((r) => (upstreamClosed = r));
  const up = await lengthUpstream((s) => s.on('close', () => upstreamClosed(s.rstCode ?? -1)));
  const h = await startH2Router(up.port, {}, { serverSession: { idleTimeMs: 200 } });
  const session = await connectH2(h.port);
  try {
    const sent = Date.now();
    const st = session.request({ ':method': 'POST', ':path': '/stall', 'content-length': '100' });
    st.write(Buffer.alloc(10, 0x61));
    const a = await answer(st, 5000);
    const took = Date.now() - sent;
    assert.equal(a.status, 408);
    assert.match(String(a.headers['l5d-err']), /request body stalled: nothing received for 200 ms/);
    assert.match(a.body, /request body stalled/);
    // The answer came whole (END_STREAM), then RST_STREAM NO_ERROR freed the stream.
    assert.equal(a.rstCode, NGHTTP2_NO_ERROR);
    assert.ok(took >= 190 && took < 3000, `answered after ${took} ms`);
    assert.equal(await upClosed, NGHTTP2_CANCEL);
    // The session is still good for the next request.
    const next = session.request({ ':method': 'POST', ':path': '/next' }, { endStream: false });
    next.end('abc');
    const b = await answer(next, 3000);
    assert.equal(b.status, 200);
    assert.equal(b.body, '3');
  } finally {
    session.destroy();
    await h.close();
    await up.close();
  }
});

test('a request body that trickles in with gaps shorter than idleTimeMs is forwarded whole', async () => {
  const up = await lengthUpstream();
  const h = await startH2Router(up.port, {}, { serverSession: { idleTimeMs: 600 } });
  const session = await connectH2(h.port);
  try {
    const st = session.request({ ':method': 'POST', ':path': '/trickle' });
    const done = answer(st, 5000);
    // Eight pieces 120 ms apart: 960 ms in all, more than the idle limit.
    for (let i = 0; i < 8; i++) {
      st.write(Buffer.alloc(100, 0x62));
      await new Promise((r) => setTimeout(r, 120));
    }
    st.end();
    const a = await done;
    assert.equal(a.status, 200);
    assert.equal(a.body, '800');
  } finally {
    session.destroy();
    await h.close();
    await up.close();
  }
});

test('a request body held back because the upstream is not reading is not a stalled body', async () => {
  // The upstream reads nothing for 1 s, five times the idle limit, then reads everything.
  const up = await lengthUpstream((s) => {
    s.pause();
    setTimeout(() => s.resume(), 1000);
  });
  const h = await startH2Router(up.port, {}, { serverSession: { idleTimeMs: 200 } });
  const session = await connectH2(h.port);
  try {
    const size = 4 * 1024 * 1024;
    const st = session.request({ ':method': 'POST', ':path': '/held' });
    const done = answer(st, 10_000);
    // More than every flow-control window on the way: the router has to hold the caller back.
    st.end(Buffer.alloc(size, 0x63));
    const a = await done;
    assert.equal(a.status, 200, `${a.status} ${a.body}`);
    assert.equal(a.body, String(size));
  } finally {
    session.destroy();
    await h.close();
    await up.close();
  }
});

test('idleTimeMs: 0 leaves a stalled body waiting', async () => {
  const up = await lengthUpstream();
  const h = await startH2Router(up.port, {}, { serverSession: { idleTimeMs: 0 } });
  const session = await connectH2(h.port);
  try {
    const st = session.request({ ':method': 'POST', ':path': '/slow' });
    const done = answer(st, 5000);
    st.write(Buffer.alloc(10, 0x64));
    await new Promise((r) => setTimeout(r, 600));
    st.end(Buffer.alloc(5, 0x64));
    const a = await done;
    assert.equal(a.status, 200);
    assert.equal(a.body, '15');
  } finally {
    session.destroy();
    await h.close();
    await up.close();
  }
});
