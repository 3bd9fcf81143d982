import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { H2SessionPool, isConnectFailure } from '../../../src/protocol/h2/session-pool.js';
import { REFUSED_PORT } from '../../support/process.js';
import { ACK, END_HEADERS, END_STREAM, F_DATA, F_GOAWAY, F_HEADERS, F_PING, F_PUSH, PADDED, h2frame } from '../../support/h2-wire.js';
import { rawH2Upstream } from '../../support/h2-raw-upstream.js';

interface Upstream {
  port: number;
  sessions: Set<http2.ServerHttp2Session>;
  sessionsSeen: number;
  close(): Promise<void>;
}

async function upstream(): Promise<Upstream> {
  const srv = http2.createServer();
  const u: Upstream = { port: 0, sessions: new Set(), sessionsSeen: 0, close: async () => {} };
  srv.on('session', (s) => {
    u.sessions.add(s);
    u.sessionsSeen++;
    s.on('close', () => u.sessions.delete(s));
  });
  srv.on('stream', (s, h) => {
    s.on('error', () => {});
    const answer = (): void => {
      if (s.destroyed || s.closed) return;
      s.respond({ ':status': 200 });
      s.end(String(h[':path']));
    };
    // /slow is answered 900 ms later.
    if (h[':path'] === '/slow') setTimeout(answer, 900);
    else answer();
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  u.port = (srv.address() as AddressInfo).port;
  u.close = () =>
    new Promise((r) => {
      for (const s of u.sessions) s.destroy();
      srv.close(() => r());
    });
  return u;
}

function get(pool: H2SessionPool, path: string): Promise<{ status: number; body: string } | { error: unknown }> {
  return new Promise((resolve) => {
    const st = pool.request({ ':path': path, ':method': 'GET', ':authority': 'x' }, { endStream: true });
    let status = 0;
    let body = '';
    st.on('response', (h) => (status = Number(h[':status'])));
    st.on('data', (c: Buffer) => (body += c.toString()));
    st.on('end', () => resolve({ status, body }));
    st.on('error', (e) => resolve({ error: e }));
  });
}

test('requests to one endpoint share one session', async () => {
  const u = await upstream();
  const pool = new H2SessionPool({ host: '127.0.0.1', port: u.port });
  try {
    const rs = await Promise.all([get(pool, '/a'), get(pool, '/b'), get(pool, '/c')]);
    assert.deepEqual(rs, [{ status: 200, body: '/a' }, { status: 200, body: '/b' }, { status: 200, body: '/c' }]);
    assert.equal(pool.opened, 1);
    assert.equal(u.sessionsSeen, 1);
    assert.equal(pool.size, 1);
    assert.equal(pool.authority, `127.0.0.1:${u.port}`);
  } finally {
    pool.close();
    await u.close();
  }
});

test('a session that goes away is opened again for the next request', async () => {
  const u = await upstream();
  const pool = new H2SessionPool({ host: '127.0.0.1', port: u.port });
  try {
    assert.deepEqual(await get(pool, '/1'), { status: 200, body: '/1' });
    const [s] = [...u.sessions];
    const gone = new Promise<void>((r) => s!.once('close', () => r()));
    s!.goaway();
    s!.close();
    await gone;
    await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(await get(pool, '/2'), { status: 200, body: '/2' });
    assert.equal(pool.opened, 2);
    assert.equal(u.sessionsSeen, 2);
  } finally {
    pool.close();
    await u.close();
  }
});

test('lifeTimeMs: a session that old is closed after its streams under way, and the next request opens another', async () => {
  const u = await upstream();
  const pool = new H2SessionPool({ host: '127.0.0.1', port: u.port, lifeTimeMs: 500 });
  try {
    assert.deepEqual(await get(pool, '/1'), { status: 200, body: '/1' });
    // Opened on the first session and answered after that session's life is up.
    const slow = get(pool, '/slow');
    assert.deepEqual(await slow, { status: 200, body: '/slow' });
    assert.equal(u.sessionsSeen, 1);
    assert.deepEqual(await get(pool, '/2'), { status: 200, body: '/2' });
    assert.equal(pool.opened, 2);
    assert.equal(u.sessionsSeen, 2);
  } finally {
    pool.close();
    await u.close();
  }
});

test('a stream whose session could not connect is a connect failure', async () => {
  // A port nothing listens on.
  const pool = new H2SessionPool({ host: '127.0.0.1', port: REFUSED_PORT });
  try {
    const r = await get(pool, '/');
    assert.ok('error' in r);
    assert.equal(isConnectFailure(r.error), true);
    assert.equal(isConnectFailure(new Error('other')), false);
  } finally {
    pool.close();
  }
});

test("a session nghttp2 ended over the upstream's connection error is destroyed by the probe, and the next request opens another", async () => {
  // The first connection answers with a DATA frame whose padding is longer than the frame (a
  // connection error: nghttp2 sends GOAWAY and stops reading, and node:http2 says nothing); the
  // connection stays open. Later connections answer properly.
  const u = await rawH2Upstream((id, conn, s) =>
    s.write(Buffer.concat([h2frame(F_HEADERS, END_HEADERS, id, Buffer.from([0x88])), conn === 1 ? h2frame(F_DATA, PADDED, id, Buffer.from([200, 1, 2])) : h2frame(F_DATA, END_STREAM, id, Buffer.from('ok'))])),
  );
  const pool = new H2SessionPool({ host: '127.0.0.1', port: u.port, probeMs: 100 });
  try {
    const t0 = Date.now();
    const bound = new Promise<{ error: unknown }>((r) => setTimeout(() => r({ error: new Error('no end in 3 s') }), 3000).unref());
    const first = await Promise.race([get(pool, '/1'), bound]);
    assert.ok('error' in first, JSON.stringify(first));
    assert.equal((first.error as { code?: string }).code, 'MESH_ERR_H2_SESSION_UNANSWERED');
    assert.ok(Date.now() - t0 < 1000, `the stream ended after ${Date.now() - t0} ms`);
    assert.deepEqual(await get(pool, '/2'), { status: 200, body: 'ok' });
    assert.equal(pool.opened, 2);
  } finally {
    pool.close();
    await u.close();
  }
});

test("a session closing under the upstream's GOAWAY keeps its stream, answered 500 ms later, across probes", async () => {
  // GOAWAY(NO_ERROR, last stream 1): stream 1 is still answered. node:http2 cancels PINGs on a
  // closing session, so a PING probe would have destroyed it.
  const u = await rawH2Upstream((id, _conn, s) => {
    s.write(Buffer.concat([h2frame(F_HEADERS, END_HEADERS, id, Buffer.from([0x88])), h2frame(F_GOAWAY, 0, 0, Buffer.concat([Buffer.from([0, 0, 0, id]), Buffer.alloc(4)]))]));
    setTimeout(() => s.write(h2frame(F_DATA, END_STREAM, id, Buffer.from('done'))), 500);
  });
  const pool = new H2SessionPool({ host: '127.0.0.1', port: u.port, probeMs: 50 });
  try {
    assert.deepEqual(await get(pool, '/'), { status: 200, body: 'done' });
  } finally {
    pool.close();
    await u.close();
  }
});

test('sessions refuse server push: SETTINGS_ENABLE_PUSH 0, and a PUSH_PROMISE ends the session, not the process', async () => {
  // With push enabled, node:http2 made a stream of the promise with no 'error' listener, and the
  // session's next error (here an unsolicited PING ACK) was thrown from it.
  const promise = Buffer.from([0, 0, 0, 2, 0x82, 0x86, 0x84, 0x41, 0x01, 0x78]);
  const u = await rawH2Upstream((id, _conn, s) =>
    s.write(Buffer.concat([h2frame(F_HEADERS, END_HEADERS, id, Buffer.from([0x88])), h2frame(F_PUSH, END_HEADERS, id, promise), h2frame(F_HEADERS, END_HEADERS, 2, Buffer.from([0x88])), h2frame(F_PING, ACK, 0, Buffer.alloc(8))])),
  );
  const pool = new H2SessionPool({ host: '127.0.0.1', port: u.port, probeMs: 100 });
  try {
    const r = await get(pool, '/');
    assert.ok('error' in r, JSON.stringify(r));
    assert.deepEqual(u.settings[0]?.find(([id]) => id === 2), [2, 0]);
    await new Promise((res) => setTimeout(res, 300));
  } finally {
    pool.close();
    await u.close();
  }
});
