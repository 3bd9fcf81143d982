/**
 * `socketOptions.readTimeoutMs` / `writeTimeoutMs` on an h2 router, as Netty's timeout handlers
 * apply them in Linkerd: a server closes a connection nothing was read from for that long, or
 * whose bytes made no progress toward its client for that long; a client destroys an upstream
 * session that went quiet, failing its streams with the reason. Each closing is counted in
 * Finagle's `read_timeout` / `write_timeout` of the server or client.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import { connectH2, startH2Router, startH2Upstream } from '../../support/h2.js';
import { END_HEADERS, END_STREAM, F_HEADERS, F_SETTINGS, F_WINDOW, PREFACE, h2frame, hpackString, settingsPayload, u32 } from '../../support/h2-wire.js';

/** Resolves with how long `sock` stayed open after the call, or rejects after `ms`. */
function closedWithin(sock: net.Socket, ms: number): Promise<number> {
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`still open after ${ms} ms`)), ms);
    sock.once('close', () => {
      clearTimeout(timer);
      resolve(Date.now() - t0);
    });
  });
}

test('an h2 server closes a connection nothing was read from for readTimeoutMs, and counts it', async (t) => {
  const up = await startH2Upstream((s) => {
    s.respond({ ':status': 200 });
    s.end('ok');
  });
  t.after(() => up.close());
  const h = await startH2Router(up.port, {}, { socketOptions: { readTimeoutMs: 200 } });
  t.after(() => h.close());
  // A session that keeps sending (a PING every 50 ms) keeps its connection.
  const session = await connectH2(h.port);
  t.after(() => session.destroy());
  const pinger = setInterval(() => session.ping(() => {}), 50);
  t.after(() => clearInterval(pinger));
  // A client that connects and says nothing.
  const quiet = net.connect(h.port, '127.0.0.1');
  quiet.on('error', () => {});
  quiet.resume(); // read (and drop) the server's SETTINGS, so its end is seen
  t.after(() => quiet.destroy());
  const ms = await closedWithin(quiet, 3000);
  assert.ok(ms >= 150, `closed after ${ms} ms`);
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(session.destroyed || session.closed, false, 'the pinging session was closed');
  assert.equal(h.metrics.flatJson()[`rt/h2/server/127.0.0.1/${h.port}/read_timeout`], 1);
  assert.equal(h.metrics.flatJson()[`rt/h2/server/127.0.0.1/${h.port}/write_timeout`], undefined);
});

test('an h2 server closes a connection whose client stopped reading for writeTimeoutMs', async (t) => {
  // 64 MB in 64 KB writes: more than the sockets between router and client can hold.
  const chunk = Buffer.alloc(64 * 1024, 0x61);
  const up = await startH2Upstream((s) => {
    s.respond({ ':status': 200 });
    let left = 1024;
    const pump = (): void => {
      while (left > 0 && !s.destroyed) {
        left--;
        if (!s.write(chunk)) return void s.once('drain', pump);
      }
      if (!s.destroyed) s.end();
    };
    pump();
  });
  t.after(() => up.close());
  const h = await startH2Router(up.port, {}, { socketOptions: { writeTimeoutMs: 300 } });
  t.after(() => h.close());
  // A client that opens every window as wide as it goes, asks, and then never reads.
  const sock = net.connect({ port: h.port, host: '127.0.0.1' });
  sock.on('error', () => {});
  t.after(() => sock.destroy());
  await new Promise<void>((r) => sock.once('connect', r));
  sock.pause();
  const block = Buffer.concat([Buffer.from([0x82, 0x86, 0x84]), Buffer.from([0x01]), hpackString('x')]); // GET http / :authority x
  sock.write(
    Buffer.concat([
      PREFACE,
      h2frame(F_SETTINGS, 0, 0, settingsPayload([[0x4, 0x7fffffff]])),
      h2frame(F_WINDOW, 0, 0, u32(0x7fffffff - 65535)),
      h2frame(F_HEADERS, END_HEADERS | END_STREAM, 1, block),
    ]),
  );
  const key = `rt/h2/server/127.0.0.1/${h.port}/write_timeout`;
  const t0 = Date.now();
  for (let i = 0; i < 160 && h.metrics.flatJson()[key] !== 1; i++) await new Promise((r) => setTimeout(r, 50));
  const ms = Date.now() - t0;
  assert.equal(h.metrics.flatJson()[key], 1, `no write timeout counted after ${ms} ms`);
  assert.ok(ms >= 250, `counted after ${ms} ms`);
  assert.equal(h.metrics.flatJson()[`rt/h2/server/127.0.0.1/${h.port}/read_timeout`], undefined);
  // Reading again, the client finds the connection closed under it.
  sock.resume();
  await closedWithin(sock, 5000);
});

test('an h2 client destroys a session its upstream went quiet on for readTimeoutMs: the stream fails naming it', async (t) => {
  // Takes the request and never answers.
  const up = await startH2Upstream(() => {});
  t.after(() => up.close());
  const h = await startH2Router(up.port, { client: { socketOptions: { readTimeoutMs: 250 } } });
  t.after(() => h.close());
  const session = await connectH2(h.port);
  t.after(() => session.destroy());
  const t0 = Date.now();
  const [status, body] = await new Promise<[number, string]>((resolve, reject) => {
    const st = session.request({ ':method': 'GET', ':path': '/x' }, { endStream: true });
    let code = 0;
    let data = '';
    st.on('response', (hd) => (code = Number(hd[':status'])));
    st.setEncoding('utf8');
    st.on('data', (c: string) => (data += c));
    st.on('end', () => resolve([code, data]));
    st.on('error', reject);
    setTimeout(() => reject(new Error('no answer within 5 s')), 5000).unref();
  });
  const ms = Date.now() - t0;
  assert.equal(status, 502, body);
  assert.match(body, /nothing read for 250 ms \(readTimeoutMs\)/);
  assert.ok(ms >= 200, `answered after ${ms} ms`);
  const flat = h.metrics.flatJson();
  const key = Object.keys(flat).find((k) => k.startsWith('rt/h2/client/') && k.endsWith('/read_timeout'));
  assert.ok(key !== undefined, Object.keys(flat).filter((k) => k.startsWith('rt/h2/client/')).join(', '));
  assert.equal(flat[key], 1);
});
