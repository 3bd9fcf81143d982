/**
 * Flow control through the h2 router. A caller that stops reading holds back its own stream
 * only: every caller's streams to one endpoint share the router's one session to it, and every
 * stream of a caller's connection shares its connection window, so a stalled stream must not use
 * up either connection window. And an upstream that answers a request before its body has all
 * come, then closes the stream (RST_STREAM NO_ERROR, RFC 9113 §8.1), has its whole answer relayed
 * while the router is still holding back part of it for a slow caller.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as http2 from 'node:http2';
import { connectH2, startH2Router, startH2Upstream } from '../../support/h2.js';

const BIG = 1 << 20;

/** Reads `st` (resuming it); resolves with the body's length once it ends, or rejects after `ms`. */
function readLength(st: http2.ClientHttp2Stream, what: string, ms: number): Promise<number> {
  return new Promise((resolve, reject) => {
    let n = 0;
    const t = setTimeout(() => {
      st.close(http2.constants.NGHTTP2_CANCEL);
      reject(new Error(`${what}: ${n} bytes, not ended within ${ms} ms`));
    }, ms);
    st.on('data', (c: Buffer) => (n += c.length));
    st.on('end', () => {
      clearTimeout(t);
      resolve(n);
    });
    st.on('error', (e) => {
      clearTimeout(t);
      reject(e);
    });
    st.resume();
  });
}

/** GET `path`: the body's length. */
function fetchLength(session: http2.ClientHttp2Session, path: string, ms: number): Promise<number> {
  return readLength(session.request({ ':method': 'GET', ':path': path }, { endStream: true }), path, ms);
}

test('a caller that stops reading a large response does not stall other callers on the same upstream session', async () => {
  const big = Buffer.alloc(BIG, 0x61);
  const up = await startH2Upstream((s, h) => {
    s.respond({ ':status': 200 });
    s.end(h[':path'] === '/big' ? big : 'small');
  });
  const h = await startH2Router(up.port, {});
  const slow = await connectH2(h.port);
  const fast = await connectH2(h.port);
  try {
    // The slow caller opens the big response and never reads it.
    const stalled = slow.request({ ':method': 'GET', ':path': '/big' }, { endStream: true });
    stalled.pause();
    await new Promise<void>((resolve) => stalled.once('response', () => resolve()));
    // Time for the upstream to fill every window the router leaves it.
    await new Promise((r) => setTimeout(r, 300));
    for (let i = 0; i < 3; i++) assert.equal(await fetchLength(fast, `/small${i}`, 3000), 5);
    // The big one still arrives whole once read.
    assert.equal(await readLength(stalled, '/big', 5000), BIG);
  } finally {
    slow.destroy();
    fast.destroy();
    await h.close();
    await up.close();
  }
});

test('a request body the upstream does not read does not stall the caller\'s other streams on its connection', async () => {
  // The upstream reads /sink's body never, and answers /echo at once.
  const up = await startH2Upstream((s, h) => {
    if (h[':path'] === '/sink') {
      s.pause();
      s.respond({ ':status': 200 });
      return;
    }
    s.resume();
    s.respond({ ':status': 200 });
    s.end('echo');
  });
  const h = await startH2Router(up.port, {});
  const session = await connectH2(h.port);
  try {
    const sink = session.request({ ':method': 'POST', ':path': '/sink' });
    sink.on('error', () => {});
    // More than every window on the way can take: the writes back up in this client.
    const chunk = Buffer.alloc(64 * 1024, 0x62);
    for (let i = 0; i < 16; i++) sink.write(chunk);
    await new Promise((r) => setTimeout(r, 300));
    for (let i = 0; i < 3; i++) assert.equal(await fetchLength(session, `/echo${i}`, 3000), 4);
    sink.close(http2.constants.NGHTTP2_CANCEL);
  } finally {
    session.destroy();
    await h.close();
    await up.close();
  }
});

test('an answer that comes before the request body ends, then RST_STREAM NO_ERROR, reaches a slow caller whole', async () => {
  const answer = Buffer.alloc(60_000, 0x63);
  // The upstream answers at once (within the router's stream window, so all of it goes out) and
  // closes the stream as soon as its answer is sent.
  const up = await startH2Upstream((s) => {
    s.respond({ ':status': 200 });
    s.end(answer, () => setTimeout(() => s.close(http2.constants.NGHTTP2_NO_ERROR), 20));
  });
  const h = await startH2Router(up.port, {});
  // A small stream window: the router has to hold back most of the answer for this caller.
  const session = http2.connect(`http://127.0.0.1:${h.port}`, { settings: { initialWindowSize: 1024 } });
  try {
    const st = session.request({ ':method': 'POST', ':path': '/early' });
    st.write(Buffer.alloc(1000, 0x64));
    st.pause();
    await new Promise<void>((resolve) => st.once('response', () => resolve()));
    // The upstream has closed the stream by now; the caller sends more of its body, then reads.
    await new Promise((r) => setTimeout(r, 200));
    st.write(Buffer.alloc(1000, 0x65));
    const got = await readLength(st, '/early', 5000);
    assert.equal(got, answer.length);
  } finally {
    session.destroy();
    await h.close();
    await up.close();
  }
});
