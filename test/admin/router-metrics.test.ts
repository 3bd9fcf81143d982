/**
 * The admin server over a real router: 3 successes and 2 failures sent through the proxy come
 * out of /admin/metrics.json and the Prometheus endpoint as exactly those numbers. Naming is the
 * router tests' fake interpreter (test/router/support.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createAdminServer } from '../../src/admin/server.js';
import { buildTelemetry } from '../../src/telemetry/telemeters.js';
import { boundLeaf, inetAddr, okTree, request, startRouter, upstream } from '../router/support.js';

test('3 successes and 2 failures through the router read back exactly from the admin endpoints', { timeout: 15_000 }, async (t) => {
  const up = await upstream((req, res) => {
    res.writeHead(req.url === '/fail' ? 500 : 200, { 'content-length': '2' });
    res.end('ok');
  });
  t.after(() => up.close());
  const r = await startRouter({ label: 'in', trees: { '/svc/users': okTree(boundLeaf(`/$/inet/127.0.0.1/${up.port}`, inetAddr(up.port))) } });
  t.after(() => r.close());
  const telemetry = buildTelemetry([{ kind: 'io.l5d.prometheus' }], { metrics: r.metrics });
  const admin = createAdminServer({ metrics: r.metrics, config: { port: 0 }, routes: telemetry.adminRoutes });
  await admin.listen();
  t.after(() => admin.close());

  for (const path of ['/ok', '/ok', '/ok', '/fail', '/fail']) {
    const rsp = await request(r.port, { path, headers: { host: 'users' } });
    assert.equal(rsp.status, path === '/ok' ? 200 : 500);
  }
  r.metrics.snapshot(); // one stats interval ends

  const srv = `rt/in/server/127.0.0.1/${r.port}`;
  const flat = (await (await fetch(`${admin.url()}/admin/metrics.json`)).json()) as Record<string, number>;
  assert.equal(flat[`${srv}/requests`], 5);
  assert.equal(flat[`${srv}/success`], 3);
  assert.equal(flat[`${srv}/failures`], 2);
  assert.equal(flat[`${srv}/request_latency_ms.count`], 5);
  assert.equal(flat['rt/in/service/svc/users/requests'], 5);
  assert.equal(flat['rt/in/service/svc/users/success'], 3);
  assert.equal(flat['rt/in/service/svc/users/failures'], 2);
  const client = `rt/in/client/$/inet/127.0.0.1/${up.port}`;
  assert.equal(flat[`${client}/requests`], 5);
  assert.equal(flat[`${client}/status/200`], 3);
  assert.equal(flat[`${client}/status/500`], 2);
  assert.equal(flat[`${client}/loadbalancer/size`], 1);
  assert.equal(flat[`${client}/loadbalancer/available`], 1);
  // Five sequential requests share one pooled keep-alive connection to the upstream.
  assert.equal(flat[`${client}/connections`], 1);

  const prom = (await (await fetch(`${admin.url()}/admin/metrics/prometheus`)).text()).split('\n');
  assert.ok(prom.includes(`rt:server:requests{rt="in", server="127.0.0.1/${r.port}"} 5`), prom.join('\n'));
  assert.ok(prom.includes(`rt:server:success{rt="in", server="127.0.0.1/${r.port}"} 3`));
  assert.ok(prom.includes(`rt:server:failures{rt="in", server="127.0.0.1/${r.port}"} 2`));
  assert.ok(prom.includes(`rt:service:success{rt="in", service="svc/users"} 3`));
  assert.ok(prom.includes(`rt:client:status{rt="in", client="$/inet/127.0.0.1/${up.port}", status_code="500"} 2`));
});
