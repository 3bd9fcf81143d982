/**
 * An h2 client's `socketOptions` (noDelay, keepAlive) on its upstream sockets, plain-text through
 * the router and over TLS on a session pool, read from the router's own socket to the upstream.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as http2 from 'node:http2';
import * as net from 'node:net';
import type { AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';
import { H2SessionPool } from '../../../src/protocol/h2/session-pool.js';
import { connectH2, startH2Router, startH2Upstream } from '../../support/h2.js';
import { makeTestCerts } from '../../support/certs.js';

interface Flags {
  readonly noDelay: unknown;
  readonly keepAlive: unknown;
}

/**
 * TCP_NODELAY and SO_KEEPALIVE as Node last set them on this process's socket bound to
 * 127.0.0.1:`localPort`. Node has no getsockopt; net.Socket keeps what it set on its handle
 * beside it (kSetNoDelay, kSetKeepAlive), and the router's socket is found among the active handles.
 */
function socketFlags(localPort: number): Flags {
  const handles = (process as unknown as { _getActiveHandles(): unknown[] })._getActiveHandles();
  const sockets = handles.filter((h): h is net.Socket => h instanceof net.Socket && h.localPort === localPort);
  assert.equal(sockets.length, 1, `one socket on local port ${localPort}`);
  const sock = sockets[0]!;
  const flag = (name: string): unknown => {
    const sym = Object.getOwnPropertySymbols(sock).find((s) => s.description === name);
    assert.ok(sym !== undefined, `net.Socket has no ${name}`);
    return (sock as unknown as Record<symbol, unknown>)[sym];
  };
  return { noDelay: flag('kSetNoDelay'), keepAlive: flag('kSetKeepAlive') };
}

/** An upstream answering 200 that notes the remote port (the router's local port) of each session. */
async function upstream(): Promise<{ port: number; peers: number[]; close(): Promise<void> }> {
  const peers: number[] = [];
  const up = await startH2Upstream(
    (s) => {
      s.respond({ ':status': 200 });
      s.end('ok');
    },
    { onSession: (s) => peers.push(s.socket.remotePort!) },
  );
  return { port: up.port, peers, close: up.close };
}

function get(session: http2.ClientHttp2Session): Promise<number> {
  return new Promise((resolve, reject) => {
    const st = session.request({ ':method': 'GET', ':path': '/x' }, { endStream: true });
    let status = 0;
    st.on('response', (h) => (status = Number(h[':status'])));
    st.resume();
    st.on('end', () => resolve(status));
    st.on('error', reject);
  });
}

/** One request through an in-process router whose client has `client`; the upstream socket's flags. */
async function routedFlags(client: Record<string, unknown>): Promise<Flags> {
  const up = await upstream();
  const h = await startH2Router(up.port, { client });
  const session = await connectH2(h.port);
  try {
    assert.equal(await get(session), 200);
    assert.equal(up.peers.length, 1);
    return socketFlags(up.peers[0]!);
  } finally {
    session.destroy();
    await h.close();
    await up.close();
  }
}

test("an h2 client's upstream socket: noDelay on and keepAlive off by default", async () => {
  assert.deepEqual(await routedFlags({}), { noDelay: true, keepAlive: false });
});

test('an h2 client applies socketOptions noDelay: false and keepAlive: true to its upstream socket', async () => {
  assert.deepEqual(await routedFlags({ socketOptions: { noDelay: false, keepAlive: true } }), { noDelay: false, keepAlive: true });
});

test('an h2 client applies socketOptions keepAlive: true with noDelay left on', async () => {
  assert.deepEqual(await routedFlags({ socketOptions: { keepAlive: true } }), { noDelay: true, keepAlive: true });
});

test("socketOptions apply to a TLS session's socket too", async () => {
  const certs = makeTestCerts();
  const peers: number[] = [];
  const srv = http2.createSecureServer({ key: readFileSync(certs.serverKey), cert: readFileSync(certs.serverCert) });
  srv.on('session', (s) => peers.push(s.socket.remotePort!));
  srv.on('stream', (s) => {
    s.respond({ ':status': 200 });
    s.end('ok');
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const pool = new H2SessionPool({
    host: '127.0.0.1',
    port: (srv.address() as AddressInfo).port,
    tls: { ca: readFileSync(certs.caCert) },
    socket: { noDelay: false, keepAlive: true },
  });
  try {
    const status = await new Promise<number>((resolve, reject) => {
      const st = pool.request({ ':method': 'GET', ':path': '/', ':authority': 'x' }, { endStream: true });
      let s = 0;
      st.on('response', (h) => (s = Number(h[':status'])));
      st.resume();
      st.on('end', () => resolve(s));
      st.on('error', reject);
    });
    assert.equal(status, 200);
    assert.equal(peers.length, 1);
    assert.deepEqual(socketFlags(peers[0]!), { noDelay: false, keepAlive: true });
  } finally {
    pool.close();
    await new Promise<void>((r) => srv.close(() => r()));
    certs.cleanup();
  }
});
