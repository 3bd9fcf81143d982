/**
 * A thrift router server in process: close() ends even while a client has connected but not
 * finished (or started) its TLS handshake.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import { readFileSync } from 'node:fs';
import { Path } from '../../../src/naming/path.js';
import type { ActivityState, BoundName } from '../../../src/naming/contracts.js';
import type { NameTree } from '../../../src/naming/name-tree.js';
import { MetricsRegistry } from '../../../src/telemetry/metrics-registry.js';
import { ThriftRouter } from '../../../src/router/thrift/router.js';
import { ThriftRouterServer, thriftServerOptions } from '../../../src/router/thrift/server.js';
import { makeTestCerts } from '../../support/certs.js';
import { TestVar, TextDtab, activity, parseTextDtab } from '../support.js';

test('a TLS thrift server closes at once with a client stuck before its TLS handshake', async () => {
  const certs = makeTestCerts();
  const metrics = new MetricsRegistry();
  const router = new ThriftRouter<TextDtab>({
    label: 'tls',
    protocol: 'thrift',
    baseDtab: new TextDtab(''),
    dstPrefix: Path.utf8('svc'),
    readPath: (s) => Path.utf8(...s.split('/').filter((x) => x !== '')),
    parseDtab: parseTextDtab,
    bind: () => activity(new TestVar<ActivityState<NameTree<BoundName>>>({ type: 'pending' })),
    metrics,
    config: {},
  });
  const server = new ThriftRouterServer(router as never, thriftServerOptions({ ip: '127.0.0.1', port: 0 }, { cert: readFileSync(certs.serverCert), key: readFileSync(certs.serverKey) }), metrics);
  try {
    const { port } = await server.listen();
    const stuck = net.connect({ port, host: '127.0.0.1' });
    stuck.on('error', () => {});
    await new Promise<void>((r) => stuck.once('connect', () => r()));
    await new Promise((r) => setTimeout(r, 50));
    const t0 = Date.now();
    const closed = await Promise.race([server.close(0).then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 3000))]);
    stuck.destroy();
    assert.equal(closed, true, 'close() still pending after 3 s');
    assert.ok(Date.now() - t0 < 1000, `closed after ${Date.now() - t0} ms`);
  } finally {
    router.close();
    metrics.close();
    certs.cleanup();
  }
});
