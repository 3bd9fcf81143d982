/**
 * The h2 router's HTTP/2 SETTINGS keys (server and client) as a raw node:http2 peer reads them,
 * and `addForwardedHeader` on h2 servers as the upstream receives it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as http2 from 'node:http2';
import { startH2Router, startH2Upstream } from '../../support/h2.js';

interface Upstream {
  readonly port: number;
  /** Request headers seen, in order. */
  readonly requests: http2.IncomingHttpHeaders[];
  /** The SETTINGS of the first session that connected, once it sent them. */
  readonly settings: Promise<http2.Settings>;
  close(): Promise<void>;
}

async function upstream(): Promise<Upstream> {
  const requests: http2.IncomingHttpHeaders[] = [];
  let gotSettings!: (s: http2.Settings) => void;
  const settings = new Promise<http2.Settings>((r) => (gotSettings = r));
  const up = await startH2Upstream(
    (s, h) => {
      requests.push(h);
      s.respond({ ':status': 200 });
      s.end('ok');
    },
    { onSession: (s) => s.once('remoteSettings', (st) => gotSettings(st)) },
  );
  return { port: up.port, requests, settings, close: up.close };
}

/** Connects to the router and resolves once the router's SETTINGS arrived. */
function connect(port: number): Promise<{ session: http2.ClientHttp2Session; settings: http2.Settings }> {
  return new Promise((resolve, reject) => {
    const s = http2.connect(`http://127.0.0.1:${port}`);
    s.once('remoteSettings', (settings) => resolve({ session: s, settings }));
    s.once('error', reject);
  });
}

function get(session: http2.ClientHttp2Session, headers: http2.OutgoingHttpHeaders = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const st = session.request({ ':method': 'GET', ':path': '/x', ...headers }, { endStream: true });
    let status = 0;
    st.on('response', (h) => (status = Number(h[':status'])));
    st.on('data', () => {});
    st.on('end', () => resolve(status));
    st.on('error', reject);
  });
}

const SETTINGS = { initialStreamWindowBytes: 1048576, maxFrameBytes: 32768, maxHeaderListBytes: 65536, headerTableBytes: 8192 };

test('an h2 server announces the configured SETTINGS', async () => {
  const up = await upstream();
  const h = await startH2Router(up.port, {}, { ...SETTINGS, maxConcurrentStreamsPerConnection: 7 });
  const { session, settings } = await connect(h.port);
  try {
    assert.equal(settings.initialWindowSize, 1048576);
    assert.equal(settings.maxFrameSize, 32768);
    assert.equal(settings.maxHeaderListSize, 65536);
    assert.equal(settings.headerTableSize, 8192);
    assert.equal(settings.maxConcurrentStreams, 7);
    assert.deepEqual(session.remoteSettings.initialWindowSize, 1048576);
  } finally {
    session.destroy();
    await h.close();
    await up.close();
  }
});

test("an h2 server takes Linkerd's spelling maxHeaderListByts; unset keys keep node's defaults", async () => {
  const up = await upstream();
  const h = await startH2Router(up.port, {}, { maxHeaderListByts: 12345 });
  const { session, settings } = await connect(h.port);
  try {
    assert.equal(settings.maxHeaderListSize, 12345);
    assert.equal(settings.initialWindowSize, 65535);
    assert.equal(settings.maxFrameSize, 16384);
    assert.equal(settings.headerTableSize, 4096);
  } finally {
    session.destroy();
    await h.close();
    await up.close();
  }
});

test('an h2 client sends the configured SETTINGS to the upstream', async () => {
  const up = await upstream();
  const h = await startH2Router(up.port, { client: { ...SETTINGS, maxHeaderListBytes: undefined, maxHeaderListByts: 70000 } }, {});
  const { session } = await connect(h.port);
  try {
    assert.equal(await get(session), 200);
    const s = await up.settings;
    assert.equal(s.initialWindowSize, 1048576);
    assert.equal(s.maxFrameSize, 32768);
    assert.equal(s.maxHeaderListSize, 70000);
    assert.equal(s.headerTableSize, 8192);
  } finally {
    session.destroy();
    await h.close();
    await up.close();
  }
});

test('addForwardedHeader with ip:port labelers: one forwarded field after the caller\'s', async () => {
  const up = await upstream();
  const h = await startH2Router(up.port, {}, { addForwardedHeader: { by: { kind: 'ip:port' }, for: { kind: 'ip:port' } } });
  const { session } = await connect(h.port);
  try {
    assert.equal(await get(session, { ':authority': 'web.example:8080' }), 200);
    assert.equal(await get(session, { ':authority': 'web.example', forwarded: 'for=192.0.2.60' }), 200);
    const local = session.socket.localPort;
    assert.deepEqual(
      up.requests.map((r) => r['forwarded']),
      [
        `by="127.0.0.1:${h.port}";for="127.0.0.1:${local}";authority=web.example:8080;proto=http`,
        `for=192.0.2.60, by="127.0.0.1:${h.port}";for="127.0.0.1:${local}";authority=web.example;proto=http`,
      ],
    );
  } finally {
    session.destroy();
    await h.close();
    await up.close();
  }
});

test('addForwardedHeader: the router label; connectionRandom is one label per connection', async () => {
  const up = await upstream();
  const h = await startH2Router(up.port, {}, { addForwardedHeader: { by: { kind: 'router' }, for: { kind: 'connectionRandom' } } });
  const a = await connect(h.port);
  const b = await connect(h.port);
  try {
    assert.equal(await get(a.session, { ':authority': 'w' }), 200);
    assert.equal(await get(a.session, { ':authority': 'w' }), 200);
    assert.equal(await get(b.session, { ':authority': 'w' }), 200);
    const seen = up.requests.map((r) => String(r['forwarded']));
    const re = /^by=_h2;for=(_[A-Za-z0-9]{6});authority=w;proto=http$/;
    const labels = seen.map((v) => re.exec(v)?.[1]);
    assert.ok(labels.every((l) => l !== undefined), seen.join(' | '));
    assert.equal(labels[0], labels[1]);
    assert.notEqual(labels[0], labels[2]);
  } finally {
    a.session.destroy();
    b.session.destroy();
    await h.close();
    await up.close();
  }
});

test('without addForwardedHeader no forwarded field is added', async () => {
  const up = await upstream();
  const h = await startH2Router(up.port, {}, {});
  const { session } = await connect(h.port);
  try {
    assert.equal(await get(session, { ':authority': 'w' }), 200);
    assert.equal(up.requests[0]!['forwarded'], undefined);
  } finally {
    session.destroy();
    await h.close();
    await up.close();
  }
});
