/**
 * `meshwork check` reading what an admin server answers: each client state and failure share
 * becomes the line it should (the e2e test runs it against real processes).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { main } from '../../src/cli/main.js';
import { captureIO } from '../support/capture-io.js';

const ep = (port: number, available: boolean, accrual: string) => ({ ip: '127.0.0.1', port, meta: {}, available, load: 0, accrual, connections: 0 });

/** An admin server answering canned JSON, as a linker's does. */
async function cannedAdmin(answers: Record<string, unknown>): Promise<{ url: string; server: Server }> {
  const server = createServer((req, res) => {
    if (req.url === '/admin/ping') return void res.end('pong');
    const a = answers[req.url ?? ''];
    if (a === undefined) {
      res.statusCode = 404;
      return void res.end('not found');
    }
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify(a));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

test('meshwork check: failed, pending and partly-out clients, and a router failing too many requests', async (t) => {
  const { url, server } = await cannedAdmin({
    '/admin/server_info': { name: 'linkerd', version: '0.1.0', uptime: 61_000 },
    '/admin/routers.json': [{ label: 'web', protocol: 'http' }, { label: 'rpc', protocol: 'h2' }],
    '/client_state.json': {
      web: {
        '/#/io.l5d.consul/dc1/users': { state: 'failed', error: 'consul at 127.0.0.1:8500: ECONNREFUSED', addresses: [] },
        '/#/io.l5d.fs/slow': { state: 'pending', addresses: [] },
        '/#/io.l5d.fs/half': { state: 'bound', addresses: [ep(1, true, 'alive'), ep(2, false, 'dead')] },
        '/#/io.l5d.fs/none': { state: 'bound', addresses: [] },
      },
      rpc: {},
    },
    '/admin/metrics.json': {
      'rt/web/server/127.0.0.1/4140/requests': 100,
      'rt/web/server/127.0.0.1/4140/failures': 7,
      'rt/web/server/127.0.0.1/4140/status/502': 7,
      'rt/web/client/$/inet/127.1/1/requests': 1000,
    },
  });
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  const { out, io } = captureIO();
  const code = await main(['check', '--admin', url], io);
  assert.equal(code, 1, out.stdout + out.stderr);
  assert.equal(
    out.stdout,
    [
      `linker admin ${url} (linkerd 0.1.0, up 61 s)`,
      '  ok   the admin server answers /admin/ping',
      '  ok   2 routers: web (http), rpc (h2)',
      "  FAIL web: /#/io.l5d.consul/dc1/users: its addresses could not be read: consul at 127.0.0.1:8500: ECONNREFUSED (is its namer's backend reachable?)",
      '  warn web: /#/io.l5d.fs/slow: its addresses are still being resolved',
      '  warn web: /#/io.l5d.fs/half: 1 of 2 endpoints taken out (127.0.0.1:2 dead)',
      '  FAIL web: /#/io.l5d.fs/none: bound, but with no endpoints: requests to it fail',
      '  ok   rpc: no clients yet (none is made before a request needs it)',
      '  warn web: 7 of 100 requests failed since start (7.0%)',
      '3 ok, 3 warnings, 2 failed',
      '',
    ].join('\n'),
  );
});

test('meshwork check: an admin server without routers (a namerd\'s) is named as such', async (t) => {
  const { url, server } = await cannedAdmin({ '/admin/server_info': { name: 'namerd', version: '0.1.0' }, '/admin/routers.json': [] });
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  const { out, io } = captureIO();
  const code = await main(['check', '--admin', url], io);
  assert.equal(code, 1);
  assert.match(out.stdout, /^ {2}FAIL no routers: is this admin server a namerd's\? \(use --namerd for namerd\)$/m);
});
