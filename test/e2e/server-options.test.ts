/**
 * An http server's `timeoutMs`, `serverSession` and `socketOptions` through a real
 * `meshwork linkerd`: the server timeout bounds a request (504), idle connections close after
 * `idleTimeMs`, every connection after `lifeTimeMs` (between responses), one that sends
 * nothing for `socketOptions.readTimeoutMs`, and the socket options Node cannot apply are named
 * in a warning at start.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import { startLinker, linkerdYaml, e2eScratch } from '../support/linker.js';
import { request, upstream } from '../router/support.js';

const { procs, ups } = e2eScratch('mw-srvopts-');
const socks: net.Socket[] = [];
after(() => {
  for (const s of socks) s.destroy();
});

/** A keep-alive connection sending `GET /` requests to `host`; counts whole 200 responses. */
async function conn(port: number, host = 'web'): Promise<{ send(): void; responses(): number; text(): string; closedAt: Promise<number> }> {
  const s = net.connect({ port, host: '127.0.0.1' });
  socks.push(s);
  await new Promise<void>((r, j) => {
    s.once('connect', r);
    s.once('error', j);
  });
  let text = '';
  s.on('data', (d: Buffer) => (text += d.toString('latin1')));
  const closedAt = new Promise<number>((r) => s.once('close', () => r(Date.now())));
  s.on('error', () => {});
  return {
    send: () => {
      if (!s.destroyed) s.write(`GET / HTTP/1.1\r\nhost: ${host}\r\n\r\n`);
    },
    responses: () => text.split('HTTP/1.1 200').length - 1,
    text: () => text,
    closedAt,
  };
}

test('server timeoutMs, serverSession idleTimeMs / lifeTimeMs and socketOptions', async () => {
  const fast = await upstream((_q, r) => r.end('ok'));
  const slow = await upstream((_q, r) => {
    const t = setTimeout(() => r.end('late'), 1500);
    r.on('close', () => clearTimeout(t));
  });
  ups.push(fast, slow);
  const file = linkerdYaml(`
admin:
  port: 0
routers:
- protocol: http
  label: web
  dtab: |
    /svc/web => /$/inet/127.0.0.1/${fast.port};
    /svc/slow => /$/inet/127.0.0.1/${slow.port};
  client:
    socketOptions:
      keepAlive: true
      writeTimeoutMs: 5000
  servers:
  - port: 0
    timeoutMs: 200
    serverSession:
      idleTimeMs: 300
    socketOptions:
      noDelay: true
      keepAlive: true
      backlog: 64
      reusePort: true
      readTimeoutMs: 61000
  - port: 0
    serverSession:
      lifeTimeMs: 1500
  - port: 0
    socketOptions:
      readTimeoutMs: 600
`);
  const l = await startLinker(file, 'web');
  procs.push(l.proc);
  const out = l.proc.output();
  assert.match(out, /warning: .*routers\[0\]\.servers\[0\]\.socketOptions\.reusePort: true is not applied/);
  // An http router applies the transport timeouts (below for the third server).
  assert.doesNotMatch(out, /keepAlive|backlog|noDelay|readTimeoutMs|writeTimeoutMs/);
  const listening = [...out.matchAll(/^listening web 127\.0\.0\.1:(\d+)/gm)].map((m) => Number(m[1]));
  const second = listening[1]!;
  const third = listening[2]!;

  // socketOptions.readTimeoutMs: a connection that sends nothing for 600 ms is closed and
  // counted (Finagle's read_timeout); one that keeps sending (every 50 ms) stays.
  const silent = await conn(third);
  const talker = await conn(third);
  const q0 = Date.now();
  const talk = setInterval(() => talker.send(), 50);
  const silentClosed = await Promise.race([silent.closedAt, new Promise<number>((r2) => setTimeout(() => r2(-1), 4000))]);
  clearInterval(talk);
  assert.notEqual(silentClosed, -1, 'the silent connection was not closed');
  assert.ok(silentClosed - q0 >= 550, `closed after ${silentClosed - q0} ms`);
  assert.ok(talker.responses() >= 3, `responses on the talking connection: ${talker.responses()}`);
  assert.equal(await Promise.race([talker.closedAt, Promise.resolve(-1)]), -1, 'the talking connection is open');
  const metrics = (await (await fetch(`http://127.0.0.1:${l.admin}/admin/metrics.json`)).json()) as Record<string, number>;
  assert.equal(metrics[`rt/web/server/127.0.0.1/${third}/read_timeout`], 1);

  // timeoutMs: the slow upstream answers after 1.5 s; the server's 200 ms bound answers first.
  const t0 = Date.now();
  const r = await request(l.port, { headers: { host: 'slow' } });
  assert.equal(r.status, 504);
  assert.equal(r.headers['l5d-err'], 'exceeded 200ms total timeout for /svc/slow');
  assert.ok(Date.now() - t0 < 1200, `answered after ${Date.now() - t0} ms`);
  // The second server has no timeoutMs: the same request waits for the upstream.
  assert.equal((await request(second, { headers: { host: 'slow' } })).body, 'late');

  // idleTimeMs: a connection idle after its response is closed (the sweep runs every second).
  const idle = await conn(l.port);
  const i0 = Date.now();
  idle.send();
  const idleClosed = await Promise.race([idle.closedAt, new Promise<number>((r2) => setTimeout(() => r2(-1), 4000))]);
  assert.notEqual(idleClosed, -1, 'the idle connection was not closed');
  assert.equal(idle.responses(), 1);
  assert.ok(idleClosed - i0 >= 250, `closed after ${idleClosed - i0} ms`);

  // lifeTimeMs: a busy connection is closed once 1.5 s old, after a whole response.
  const busy = await conn(second);
  const b0 = Date.now();
  const pump = setInterval(() => busy.send(), 50);
  const busyClosed = await Promise.race([busy.closedAt, new Promise<number>((r2) => setTimeout(() => r2(-1), 5000))]);
  clearInterval(pump);
  assert.notEqual(busyClosed, -1, 'the connection outlived lifeTimeMs');
  assert.ok(busyClosed - b0 >= 1400, `closed after ${busyClosed - b0} ms`);
  assert.ok(busy.responses() >= 10, `responses before closing: ${busy.responses()}`);

  // A connection whose request is in flight when it gets too old is closed after that
  // response, which arrives whole: pipelined slow requests (1.5 s each).
  const inflight = await conn(second, 'slow');
  inflight.send();
  inflight.send();
  inflight.send();
  const s0 = Date.now();
  const slowClosed = await Promise.race([inflight.closedAt, new Promise<number>((r2) => setTimeout(() => r2(-1), 8000))]);
  assert.notEqual(slowClosed, -1, 'the busy connection outlived lifeTimeMs');
  const n = inflight.responses();
  assert.ok(n >= 1 && n < 3, `whole responses before closing: ${n} after ${slowClosed - s0} ms`);
  assert.ok(inflight.text().endsWith('late'), 'the last response arrived whole');
  // ... and said it was the last: `connection: close` in the head of the final response.
  const heads = inflight.text().split('HTTP/1.1 ').slice(1);
  assert.match(heads[heads.length - 1]!, /\r\nconnection: close\r\n/i);
});
