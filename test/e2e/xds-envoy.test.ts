/**
 * `meshwork namerd` with io.meshwork.xds's `envoy` config: an Envoy-like ADS client (built from
 * Envoy's own protos) gets the configured listener over wildcard LDS and the route
 * configuration over RDS, a dtab written through the HTTP API adds a virtual host, and a
 * proxyless-style named LDS request on the same port still gets its API listener.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnReady, type ReadyProcess } from '../support/process.js';
import { envoyAdsClient, type EnvoyResponse } from '../namerd/envoy-protos.js';

const LDS = 'type.googleapis.com/envoy.config.listener.v3.Listener';
const RDS = 'type.googleapis.com/envoy.config.route.v3.RouteConfiguration';
const BIN = join(process.cwd(), 'bin', 'meshwork.js');
const dir = mkdtempSync(join(tmpdir(), 'mesh-xds-envoy-'));
const disco = join(dir, 'disco');
mkdirSync(disco);
writeFileSync(join(disco, 'web'), '127.0.0.1 8081\n');
writeFileSync(join(disco, 'shop'), '127.0.0.1 8082\n');
const config = join(dir, 'namerd.yaml');
writeFileSync(
  config,
  `admin: {ip: 127.0.0.1, port: 0}
storage:
  kind: io.l5d.inMemory
  namespaces:
    default: /svc => /#/io.l5d.fs; /svc/web => /#/io.l5d.fs/web
namers:
- kind: io.l5d.fs
  rootDir: ${disco}
interfaces:
- {kind: io.l5d.httpController, ip: 127.0.0.1, port: 0}
- kind: io.meshwork.xds
  ip: 127.0.0.1
  port: 0
  envoy:
    listeners: [{port: 4140}]
`,
);
const namerd: ReadyProcess = await spawnReady(process.execPath, [BIN, 'namerd', config], /io\.meshwork\.xds listening on 127\.0\.0\.1:\d+[\s\S]*admin listening/, 15_000);
const xdsPort = Number(/io\.meshwork\.xds listening on 127\.0\.0\.1:(\d+)/.exec(namerd.output())![1]);
const apiPort = Number(/io\.l5d\.httpController listening on 127\.0\.0\.1:(\d+)/.exec(namerd.output())![1]);
const client = envoyAdsClient(`127.0.0.1:${xdsPort}`);

after(async () => {
  client.close();
  await namerd.stop(5000);
  rmSync(dir, { recursive: true, force: true });
});

test('namerd steers an Envoy-like client from its config: wildcard LDS, RDS, a dtab write adding a service', { timeout: 30_000 }, async () => {
  const call = client.StreamAggregatedResources();
  const got: EnvoyResponse[] = [];
  call.on('data', (r: EnvoyResponse) => got.push(r));
  call.on('error', () => undefined);
  const next = async (type: string): Promise<EnvoyResponse> => {
    for (let i = 0; i < 250; i++) {
      const j = got.findIndex((r) => r.type_url === type);
      if (j >= 0) return got.splice(j, 1)[0]!;
      await new Promise((r) => setTimeout(r, 20));
    }
    throw new Error(`no ${type} response in 5 s`);
  };
  try {
    call.write({ node: { id: 'edge-1' }, type_url: LDS, resource_names: [] });
    const lds = await next(LDS);
    assert.deepEqual(lds.resources.map((l) => [l['name'], l['address']]), [['http-4140', { socket_address: { address: '0.0.0.0', port_value: 4140 } }]]);
    call.write({ type_url: LDS, resource_names: [], version_info: lds.version_info, response_nonce: lds.nonce });
    call.write({ type_url: RDS, resource_names: ['default/svc'] });
    const rds = await next(RDS);
    const hosts = (r: EnvoyResponse): string[] => (r.resources[0]!['virtual_hosts'] as { name: string }[]).map((v) => v.name);
    assert.deepEqual(hosts(rds), ['web']);
    call.write({ type_url: RDS, resource_names: ['default/svc'], version_info: rds.version_info, response_nonce: rds.nonce });
    const put = await fetch(`http://127.0.0.1:${apiPort}/api/1/dtabs/default`, {
      method: 'PUT',
      headers: { 'content-type': 'application/dtab' },
      body: '/svc => /#/io.l5d.fs; /svc/web => /#/io.l5d.fs/web; /svc/shop => /#/io.l5d.fs/shop',
    });
    assert.equal(put.status, 204);
    assert.deepEqual(hosts(await next(RDS)), ['shop', 'web']);
    // A named request on the same port: a proxyless client's API listener.
    const named = client.StreamAggregatedResources();
    const answer = await new Promise<EnvoyResponse>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('no named LDS answer')), 5000);
      named.on('data', (r: EnvoyResponse) => {
        clearTimeout(t);
        resolve(r);
      });
      named.on('error', () => undefined);
      named.write({ type_url: LDS, resource_names: ['shop'] });
    });
    named.end();
    assert.deepEqual(answer.resources.map((l) => [l['name'], Object.keys(l).sort()]), [['shop', ['@type', 'api_listener', 'name']]]);
  } finally {
    call.end();
  }
});
