/**
 * The http router's response idle timeout (the engine's `responseIdleTimeoutMs`, Envoy's stream
 * idle timeout): 5 minutes, or `serverSession.idleTimeMs` when that is longer, never with 0. A
 * short idle time closes idle keep-alive connections, as in Linkerd, and does not cut a slow
 * answer. The engine's own behaviour is tested in test/protocol/http1/conformance.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_RESPONSE_IDLE_MS, responseIdleFor } from '../../src/router/server.js';
import { boundLeaf, inetAddr, okTree, request, startRouter, upstream } from './support.js';

test('the response idle timeout: 5 minutes, or a longer serverSession.idleTimeMs; 0 is never', () => {
  assert.equal(DEFAULT_RESPONSE_IDLE_MS, 300_000);
  assert.equal(responseIdleFor(undefined), 300_000);
  assert.equal(responseIdleFor(300), 300_000);
  assert.equal(responseIdleFor(600_000), 600_000);
  assert.equal(responseIdleFor(0), Infinity);
});

test('a server with a short serverSession.idleTimeMs still waits for a slow answer', async (t) => {
  const up = await upstream((_req, res) => {
    setTimeout(() => res.end('late'), 800);
  });
  t.after(() => up.close());
  const r = await startRouter({ trees: { '/svc/slow': okTree(boundLeaf('/#/io.l5d.fs/slow', inetAddr(up.port))) }, server: { serverSession: { idleTimeMs: 300 } } });
  t.after(() => r.close());
  const t0 = Date.now();
  const got = await request(r.port, { headers: { host: 'slow' } });
  assert.equal(got.status, 200, got.body);
  assert.equal(got.body, 'late');
  assert.ok(Date.now() - t0 >= 750);
});
