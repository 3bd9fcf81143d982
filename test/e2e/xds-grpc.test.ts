/**
 * A proxyless gRPC client (@grpc/grpc-js-xds, the xDS client gRPC ships for Node) dials
 * `xds:///web` with `meshwork namerd`'s io.meshwork.xds interface as its xDS server, and the
 * dtab writes of the canary story steer it: 100% v1, then `3 * v1 & 1 * v2`, then 100% v2;
 * an endpoint added to v2's io.l5d.fs file joins its round robin. Every call must succeed.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { spawnReady, type ReadyProcess } from '../support/process.js';

const BIN = join(process.cwd(), 'bin', 'meshwork.js');
const dir = mkdtempSync(join(tmpdir(), 'mesh-xds-'));
const disco = join(dir, 'disco');
const { mkdirSync } = await import('node:fs');
mkdirSync(disco);

/** A raw-bytes unary method: the backend answers with its name. */
const WHO: grpc.ServiceDefinition = {
  who: {
    path: '/meshwork.test.Echo/Who',
    requestStream: false,
    responseStream: false,
    requestSerialize: (b: Buffer) => b,
    requestDeserialize: (b: Buffer) => b,
    responseSerialize: (b: Buffer) => b,
    responseDeserialize: (b: Buffer) => b,
  },
};

async function backend(name: string): Promise<{ port: number; server: grpc.Server }> {
  const server = new grpc.Server();
  server.addService(WHO, { who: (_call: unknown, cb: grpc.sendUnaryData<Buffer>) => cb(null, Buffer.from(name)) });
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
  return { port, server };
}

function put(name: string, text: string): void {
  writeFileSync(join(disco, `.${name}.tmp`), text);
  renameSync(join(disco, `.${name}.tmp`), join(disco, name));
}

const backends = { v1: await backend('v1'), v2: await backend('v2'), v3: await backend('v3') };
put('web-v1', `127.0.0.1 ${backends.v1.port}\n`);
put('web-v2', `127.0.0.1 ${backends.v2.port}\n`);

const config = join(dir, 'namerd.yaml');
writeFileSync(
  config,
  `admin: {ip: 127.0.0.1, port: 0}
storage:
  kind: io.l5d.inMemory
  namespaces:
    default: /svc => /#/io.l5d.fs; /svc/web => /#/io.l5d.fs/web-v1
namers:
- kind: io.l5d.fs
  rootDir: ${disco}
interfaces:
- {kind: io.l5d.httpController, ip: 127.0.0.1, port: 0}
- {kind: io.meshwork.xds, ip: 127.0.0.1, port: 0}
`,
);
const namerd: ReadyProcess = await spawnReady(process.execPath, [BIN, 'namerd', config], /io\.meshwork\.xds listening on 127\.0\.0\.1:\d+[\s\S]*admin listening/, 15_000);
const xdsPort = Number(/io\.meshwork\.xds listening on 127\.0\.0\.1:(\d+)/.exec(namerd.output())![1]);
const apiPort = Number(/io\.l5d\.httpController listening on 127\.0\.0\.1:(\d+)/.exec(namerd.output())![1]);

// The client's bootstrap: namerd is its only xDS server.
process.env['GRPC_XDS_BOOTSTRAP_CONFIG'] = JSON.stringify({
  xds_servers: [{ server_uri: `127.0.0.1:${xdsPort}`, channel_creds: [{ type: 'insecure' }], server_features: ['xds_v3'] }],
  node: { id: 'meshwork-test-client', locality: {} },
});
(createRequire(import.meta.url)('@grpc/grpc-js-xds') as { register(): void }).register();
const client = new grpc.Client('xds:///web', grpc.credentials.createInsecure());

after(async () => {
  client.close();
  await namerd.stop(5000);
  for (const b of Object.values(backends)) b.server.forceShutdown();
  rmSync(dir, { recursive: true, force: true });
  // grpc-js-xds leaves a 10 s priority failover timer of the closed channel running (it has no
  // way to shut its xDS client down); once everything here is stopped, do not wait for it.
  setTimeout(() => process.exit(), 500).unref();
});

function who(): Promise<string> {
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest('/meshwork.test.Echo/Who', (b: Buffer) => b, (b: Buffer) => b, Buffer.alloc(0), { deadline: Date.now() + 5000 }, (err, rsp) => (err ? reject(err) : resolve(rsp!.toString())));
  });
}

async function writeDtab(text: string): Promise<void> {
  const r = await fetch(`http://127.0.0.1:${apiPort}/api/1/dtabs/default`, { method: 'PUT', headers: { 'content-type': 'application/dtab' }, body: text });
  assert.equal(r.status, 204, await r.text());
}

/** Calls until `done` says the answers so far are what is wanted (at most `n` calls); every call must succeed. */
async function callUntil(done: (answers: string[]) => boolean, n = 400): Promise<string[]> {
  const answers: string[] = [];
  for (let i = 0; i < n && !done(answers); i++) answers.push(await who());
  return answers;
}

test('dtab writes steer a proxyless gRPC client through io.meshwork.xds: v1, a 3:1 canary, then v2', { timeout: 60_000 }, async (t) => {
  const t0 = Date.now();
  const mark = (what: string): void => t.diagnostic(`${what} at ${Date.now() - t0} ms`);
  const first = await callUntil((a) => a.length === 20);
  assert.deepEqual(new Set(first), new Set(['v1']));
  mark('20 calls to v1');

  await writeDtab('/svc => /#/io.l5d.fs; /svc/web => 3 * /#/io.l5d.fs/web-v1 & 1 * /#/io.l5d.fs/web-v2');
  const seen = await callUntil((a) => a.includes('v2'));
  assert.ok(seen.includes('v2'), `no call reached v2 after the canary write (${seen.length} calls)`);
  const canary = await callUntil((a) => a.length === 400);
  const share = canary.filter((x) => x === 'v2').length / canary.length;
  assert.ok(share > 0.15 && share < 0.35, `v2 got ${(share * 100).toFixed(1)}% of 400 calls, want about 25%`);
  mark(`canary seen after ${seen.length} calls; v2 got ${(share * 100).toFixed(1)}% of the next 400`);

  await writeDtab('/svc => /#/io.l5d.fs; /svc/web => /#/io.l5d.fs/web-v2');
  const moved = await callUntil((a) => a.length >= 20 && a.slice(-20).every((x) => x === 'v2'));
  assert.deepEqual(new Set(moved.slice(-20)), new Set(['v2']));
  mark(`all on v2 after ${moved.length} calls`);

  // An endpoint added to v2's file joins its round robin.
  put('web-v2', `127.0.0.1 ${backends.v2.port}\n127.0.0.1 ${backends.v3.port}\n`);
  const both = await callUntil((a) => a.includes('v3'));
  assert.ok(both.includes('v3'), `v3 was never called after it joined (${both.length} calls)`);
  const spread = await callUntil((a) => a.length === 40);
  assert.deepEqual(new Set(spread), new Set(['v2', 'v3']));
  mark(`v3 joined after ${both.length} calls`);
});
