import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { H2SessionPool, isConnectFailure } from '../../../src/protocol/h2/session-pool.js';
import { REFUSED_PORT } from '../../support/process.js';

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
    s.respond({ ':status': 200 });
    s.end(String(h[':path']));
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
