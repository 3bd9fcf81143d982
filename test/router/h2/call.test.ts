/**
 * H2Call (src/router/h2/call.ts) through an in-process h2 router and server on loopback, with
 * naming faked (test/router/support.ts): what happens to an exchange after the router has
 * answered it, and the caller's request body once the upstream no longer wants it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as http2 from 'node:http2';
import { connectH2 as connect, startH2Router, startH2Upstream } from '../../support/h2.js';
import { END_HEADERS, END_STREAM, F_DATA, F_HEADERS, F_RST, h2frame, u32 } from '../../support/h2-wire.js';
import { rawH2Upstream } from '../../support/h2-raw-upstream.js';

interface Upstream {
  readonly port: number;
  /** Request streams seen, in order. */
  readonly streams: http2.ServerHttp2Stream[];
  /** Resolves when the upstream has seen `n` streams. */
  seen(n: number): Promise<void>;
  close(): Promise<void>;
}

async function upstream(onStream: (s: http2.ServerHttp2Stream, h: http2.IncomingHttpHeaders) => void): Promise<Upstream> {
  const streams: http2.ServerHttp2Stream[] = [];
  const waiters: Array<{ n: number; resolve: () => void }> = [];
  const up = await startH2Upstream((s, h) => {
    streams.push(s);
    for (const w of waiters.splice(0)) {
      if (streams.length >= w.n) w.resolve();
      else waiters.push(w);
    }
    onStream(s, h);
  });
  return {
    port: up.port,
    streams,
    seen: (n) => (streams.length >= n ? Promise.resolve() : new Promise<void>((resolve) => waiters.push({ n, resolve }))),
    close: up.close,
  };
}

/** Resolves with the response's status and body once it ended, or rejects after `ms`. */
function response(st: http2.ClientHttp2Stream, ms = 5000): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    let status = 0;
    let body = '';
    const timer = setTimeout(() => reject(new Error(`no whole response within ${ms} ms`)), ms);
    st.on('response', (h) => (status = Number(h[':status'])));
    st.on('data', (c: Buffer) => (body += c.toString()));
    st.on('end', () => {
      clearTimeout(timer);
      resolve({ status, body });
    });
    st.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}

/** Resolves true when `p` settles within `ms`, false otherwise (for what must not happen). */
function within(p: Promise<unknown>, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    p.then(
      () => {
        clearTimeout(timer);
        resolve(true);
      },
      () => {
        clearTimeout(timer);
        resolve(true);
      },
    );
  });
}

function closed(st: http2.Http2Stream): Promise<void> {
  return st.closed ? Promise.resolve() : new Promise((r) => st.once('close', () => r()));
}

test('a total timeout during the retry backoff answers 504 and sends no further attempt', async () => {
  // Every attempt is refused with a retryable 503; the retry waits 300 ms, the total timeout is 100 ms.
  const up = await upstream((s) => s.respond({ ':status': 503 }, { endStream: true }));
  const h = await startH2Router(up.port, {
    service: { totalTimeoutMs: 100, responseClassifier: { kind: 'io.l5d.h2.retryableAll5XX' }, retries: { backoff: { kind: 'constant', ms: 300 } } },
  });
  const session = await connect(h.port);
  try {
    // The caller's request body is still open, so its stream outlives the router's answer.
    const st = session.request({ ':method': 'POST', ':path': '/x' }, { endStream: false });
    st.write('part');
    const r = await response(st);
    assert.deepEqual(r, { status: 504, body: 'exceeded 100ms total timeout for /svc/up\n' });
    assert.equal(up.streams.length, 1);
    // The backoff (300 ms) ends well within 800 ms: a retry would show as a second upstream stream.
    assert.equal(await within(up.seen(2), 800), false, 'no attempt after the timeout answer');
    assert.equal(st.closed, false, 'the answered caller is not reset');
    st.end();
    await closed(st);
    assert.equal(st.rstCode, http2.constants.NGHTTP2_NO_ERROR);
    assert.equal(up.streams.length, 1);
  } finally {
    session.destroy();
    await h.close();
    await up.close();
  }
});

test('a total timeout while binding is pending answers 504 and the name bound later is not called', async () => {
  const up = await upstream((s) => s.respond({ ':status': 200 }, { endStream: true }));
  const h = await startH2Router(up.port, { service: { totalTimeoutMs: 100 }, bindingTimeoutMs: 10_000 });
  const session = await connect(h.port);
  const bound = h.tree.sample();
  h.tree.set({ type: 'pending' });
  try {
    const st = session.request({ ':method': 'POST', ':path': '/x' }, { endStream: false });
    st.write('part');
    const r = await response(st);
    assert.deepEqual(r, { status: 504, body: 'exceeded 100ms total timeout for /svc/up\n' });
    h.tree.set(bound);
    assert.equal(await within(up.seen(1), 500), false, 'no attempt after the timeout answer');
    st.end();
    await closed(st);
    assert.equal(st.rstCode, http2.constants.NGHTTP2_NO_ERROR);
    assert.equal(up.streams.length, 0);
  } finally {
    session.destroy();
    await h.close();
    await up.close();
  }
});

test('a request body still flowing when the upstream has answered is read to its end (the caller is not stalled)', async () => {
  // The upstream answers 100 ms after the request starts and never reads the body: meanwhile the
  // router's writes upstream fill the flow-control window and the caller's stream is paused.
  const up = await upstream((s) => {
    setTimeout(() => {
      if (!s.closed) s.respond({ ':status': 200 }, { endStream: true });
    }, 100);
  });
  const h = await startH2Router(up.port, {});
  const session = await connect(h.port);
  try {
    const st = session.request({ ':method': 'POST', ':path': '/x' }, { endStream: false });
    const r = response(st);
    const body = Buffer.alloc(1024 * 1024, 0x61);
    const written = new Promise<void>((resolve) => st.end(body, () => resolve()));
    assert.equal((await r).status, 200);
    assert.equal(await within(written, 3000), true, 'the whole request body was taken');
    assert.equal(await within(closed(st), 3000), true, 'the stream closed');
    // The router's side of the stream closes a moment after the caller's; nothing to await but its count.
    for (let i = 0; i < 300 && h.server.inFlight !== 0; i++) await new Promise((res) => setTimeout(res, 10));
    assert.equal(h.server.inFlight, 0, 'the call finished');
  } finally {
    session.destroy();
    await h.close();
    await up.close();
  }
});

test('a field sent never-indexed stays so on the next hop, both ways (RFC 7541 §7.1.3)', async () => {
  let seen: http2.IncomingHttpHeaders = {};
  const up = await upstream((s, h) => {
    seen = h;
    s.respond({ ':status': 200, 'x-up-secret': 'u', 'x-plain': 'p', [http2.sensitiveHeaders]: ['x-up-secret'] } as http2.OutgoingHttpHeaders, { endStream: true });
  });
  const h = await startH2Router(up.port, {});
  const session = await connect(h.port);
  try {
    const st = session.request({ ':path': '/s', 'x-secret': 's', 'x-plain': 'p', [http2.sensitiveHeaders]: ['x-secret'] } as http2.OutgoingHttpHeaders, { endStream: true });
    const got = new Promise<http2.IncomingHttpHeaders>((resolve) => st.once('response', resolve));
    await response(st);
    const never = (x: http2.IncomingHttpHeaders): unknown => (x as Record<symbol, unknown>)[http2.sensitiveHeaders];
    assert.deepEqual(never(await got), ['x-up-secret']);
    assert.equal(seen['x-secret'], 's');
    assert.deepEqual(never(seen), ['x-secret']);
  } finally {
    session.destroy();
    await h.close();
    await up.close();
  }
});

/** How the caller's stream ended: 'end' came, its body, and the RST_STREAM code it closed with (-1: not closed in 3 s). */
function ending(st: http2.ClientHttp2Stream): Promise<{ ended: boolean; body: string; rstCode: number }> {
  return new Promise((resolve) => {
    let ended = false;
    let body = '';
    setTimeout(() => resolve({ ended, body, rstCode: -1 }), 3000).unref();
    st.on('data', (c: Buffer) => (body += c.toString()));
    st.on('end', () => (ended = true));
    st.on('error', () => {});
    st.on('close', () => resolve({ ended, body, rstCode: st.rstCode ?? -1 }));
  });
}

const { NGHTTP2_NO_ERROR, NGHTTP2_CANCEL, NGHTTP2_INTERNAL_ERROR } = http2.constants;

for (const [what, length, code, want] of [
  // node:http2 ends a stream reset with CANCEL or NO_ERROR as if END_STREAM had come.
  ['CANCEL', false, NGHTTP2_CANCEL, NGHTTP2_CANCEL],
  ['NO_ERROR, short of its content-length', true, NGHTTP2_NO_ERROR, NGHTTP2_INTERNAL_ERROR],
  ['NO_ERROR, no content-length', false, NGHTTP2_NO_ERROR, NGHTTP2_INTERNAL_ERROR],
  ['a code RFC 9113 does not define', false, 0xdeadbeef, NGHTTP2_INTERNAL_ERROR],
] as const) {
  test(`a response the upstream resets mid-body (${what}) is reset to the caller with ${want}, never ended as if complete`, async () => {
    // :status 200 (static index 8), then content-length: 10 (a literal on static name 28).
    const fields = Buffer.from(length ? [0x88, 0x0f, 0x0d, 0x02, 0x31, 0x30] : [0x88]);
    // node:http2 cannot reset a stream without ending it first.
    const up = await rawH2Upstream((id, _conn, s) => s.write(Buffer.concat([h2frame(F_HEADERS, END_HEADERS, id, fields), h2frame(F_DATA, 0, id, Buffer.from('abc')), h2frame(F_RST, 0, id, u32(code))])), { answerPings: true });
    const h = await startH2Router(up.port, {});
    const session = await connect(h.port);
    try {
      const r = await ending(session.request({ ':path': '/r' }, { endStream: true }));
      // (The caller's node:http2 also emits 'end' on a CANCEL: the code is what tells.)
      assert.deepEqual([r.body, r.rstCode], ['abc', want]);
      if (want !== NGHTTP2_CANCEL) assert.equal(r.ended, false);
    } finally {
      session.destroy();
      await h.close();
      await up.close();
    }
  });
}

test('a response the caller cannot be given (status 999) resets the caller, and nothing after it is relayed as a response', async () => {
  // :status 999 (a literal on the static name 8), then a body with END_STREAM in the same write:
  // the reset the router makes waits for the next turn of the event loop (reset-soon.ts), and
  // the body must not be written meanwhile (node:http2 would answer the stream 200 with it).
  const fields = Buffer.from([0x08, 0x03, 0x39, 0x39, 0x39]);
  const up = await rawH2Upstream((id, _conn, s) => s.write(Buffer.concat([h2frame(F_HEADERS, END_HEADERS, id, fields), h2frame(F_DATA, END_STREAM, id, Buffer.from('x'))])), { answerPings: true });
  const h = await startH2Router(up.port, {});
  const session = await connect(h.port);
  try {
    const st = session.request({ ':path': '/r' }, { endStream: true });
    let status = 0;
    st.on('response', (hs) => (status = Number(hs[':status'])));
    const r = await ending(st);
    assert.deepEqual([status, r.body, r.ended, r.rstCode], [0, '', false, NGHTTP2_INTERNAL_ERROR]);
  } finally {
    session.destroy();
    await h.close();
    await up.close();
  }
});
