/**
 * `clientSession.lifeTimeMs` on the engine's upstream pool: a connection that old is closed,
 * at once when idle and after its response when busy, and the next request opens another.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { createHttp1Server } from '../../../src/protocol/http1/server.js';
import { Http1Pool, type Http1PoolOptions } from '../../../src/protocol/http1/pool.js';
import { exchange, ok, rawUpstream, type Responder } from './helpers.js';

const cleanups: (() => Promise<void> | void)[] = [];
after(async () => { for (const c of cleanups.reverse()) await c(); });


/** Each answer's body is the upstream-side port of the connection it came on. */
const byConnection: Responder = (_req, conn) => ok(String(conn.remotePort));

async function setup(respond: Responder, opts: Partial<Http1PoolOptions>): Promise<{ port: number; pool: Http1Pool; connections: () => number }> {
  const up = await rawUpstream(respond);
  const pool = new Http1Pool({ host: '127.0.0.1', port: up.port, ...opts });
  const server = createHttp1Server((ex) => pool.dispatch(ex));
  const port = (await server.listen(0)).port;
  cleanups.push(async () => { await server.close(); pool.close(); }, () => up.close());
  return { port, pool, connections: () => up.connections };
}

async function get(port: number, path: string): Promise<string> {
  const r = await exchange(port, `GET ${path} HTTP/1.1\r\nHost: up\r\n\r\n`, 1, { timeoutMs: 5000 });
  assert.equal(r.responses[0]?.line, 'HTTP/1.1 200 OK', r.text);
  return r.responses[0]!.body;
}

/** Waits (20 ms steps, at most `ms`) until the pool has `n` connections open. */
async function poolSize(pool: Http1Pool, n: number, ms: number): Promise<void> {
  for (let waited = 0; pool.size !== n && waited < ms; waited += 20) await sleep(20);
  assert.equal(pool.size, n);
}

test('without lifeTimeMs an idle connection is reused', async () => {
  const { port, pool, connections } = await setup(byConnection, {});
  const a = await get(port, '/1');
  await sleep(300);
  assert.equal(await get(port, '/2'), a);
  assert.equal(connections(), 1);
  assert.equal(pool.size, 1);
});

test('lifeTimeMs: an idle connection past its life is closed, and the next request opens another', async () => {
  const { port, pool, connections } = await setup(byConnection, { lifeTimeMs: 500 });
  const a = await get(port, '/1');
  assert.equal(await get(port, '/2'), a, 'reused while younger than lifeTimeMs');
  await poolSize(pool, 0, 2000);
  const b = await get(port, '/3');
  assert.notEqual(b, a);
  assert.equal(connections(), 2);
});

test('lifeTimeMs: a connection that expires during a response finishes it, then closes', async () => {
  const slow: Responder = (req, conn) => {
    if (!req.line.includes('/slow')) return ok(String(conn.remotePort));
    setTimeout(() => conn.write(ok(String(conn.remotePort)), 'latin1'), 900);
    return null;
  };
  const { port, pool, connections } = await setup(slow, { lifeTimeMs: 500 });
  const a = await get(port, '/slow');
  await poolSize(pool, 0, 1000);
  assert.notEqual(await get(port, '/next'), a);
  assert.equal(connections(), 2);
});
