/**
 * Linkerd's Host rewrite through real processes: `meshwork namerd` binds names with
 * io.l5d.consul (`setHost: true`, `weights`) against the in-test Consul server, and a
 * `meshwork linkerd` follows it over io.l5d.mesh (gRPC) and over io.l5d.namerd (thrift). The
 * Addr's `authority` metadata crosses namerd, so the upstream sees
 * `<service>.service.<dc>.<domain>` as its Host and the caller gets its own Host back in
 * Location; an endpoint weight crosses too (9 of 10 requests to the heavy node).
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request, upstream, type Upstream } from '../router/support.js';
import { spawnReady, type ReadyProcess } from '../support/process.js';
import { startFakeConsul, type FakeConsul } from '../support/fake-consul.js';

const BIN = join(process.cwd(), 'bin', 'meshwork.js');
const dir = mkdtempSync(join(tmpdir(), 'meshwork-sethost-'));
const procs: ReadyProcess[] = [];
const ups: Upstream[] = [];
let consul: FakeConsul | undefined;

after(async () => {
  for (const p of procs) await p.stop(1000);
  for (const u of ups) await u.close();
  await consul?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const VIA = [
  { iface: 'io.l5d.mesh', interpreter: (port: number) => `    kind: io.l5d.mesh\n    dst: /$/inet/127.0.0.1/${port}\n    root: /default\n` },
  { iface: 'io.l5d.thriftNameInterpreter', interpreter: (port: number) => `    kind: io.l5d.namerd\n    dst: /$/inet/127.0.0.1/${port}\n    namespace: default\n` },
] as const;

test('consul setHost through namerd: the upstream gets the service\'s Consul host name; the caller its own Host back', async () => {
  const seen: string[] = [];
  const heavy = await upstream((req, res) => {
    seen.push(`heavy ${req.headers.host}`);
    res.writeHead(302, { location: `http://${req.headers.host}/next`, 'content-length': '0' });
    res.end();
  });
  const light = await upstream((req, res) => {
    seen.push(`light ${req.headers.host}`);
    res.writeHead(302, { location: `http://${req.headers.host}/next`, 'content-length': '0' });
    res.end();
  });
  ups.push(heavy, light);
  consul = await startFakeConsul({ datacenter: 'dc1', domain: 'consul.' });
  consul.setService('web', [
    { address: '127.0.0.1', port: heavy.port, tags: ['primary'] },
    { address: '127.0.0.1', port: light.port },
  ]);
  const namerdYaml = join(dir, 'namerd.yaml');
  writeFileSync(
    namerdYaml,
    `admin: {ip: 127.0.0.1, port: 0}\nstorage:\n  kind: io.l5d.inMemory\n  namespaces:\n    default: /svc => /#/io.l5d.consul/dc1\n` +
      `namers:\n- kind: io.l5d.consul\n  host: 127.0.0.1\n  port: ${consul.port}\n  setHost: true\n  weights:\n  - {tag: primary, weight: 9}\n` +
      `interfaces:\n- {kind: io.l5d.mesh, ip: 127.0.0.1, port: 0}\n- {kind: io.l5d.thriftNameInterpreter, ip: 127.0.0.1, port: 0}\n`,
  );
  const namerd = await spawnReady(process.execPath, [BIN, 'namerd', namerdYaml], /io\.l5d\.thriftNameInterpreter listening on[\s\S]*namerd admin listening|namerd admin listening[\s\S]*io\.l5d\.thriftNameInterpreter listening on/, 15_000);
  procs.push(namerd);
  for (const via of VIA) {
    const port = Number(new RegExp(`${via.iface.replace(/\./g, '\\.')} listening on 127\\.0\\.0\\.1:(\\d+)`).exec(namerd.output())![1]);
    const linkerdYaml = join(dir, `linkerd-${via.iface}.yaml`);
    writeFileSync(
      linkerdYaml,
      `admin: {ip: 127.0.0.1, port: 0}\nrouters:\n- protocol: http\n  label: web\n  interpreter:\n${via.interpreter(port)}  servers: [{ip: 127.0.0.1, port: 0}]\n`,
    );
    const l = await spawnReady(process.execPath, [BIN, 'linkerd', linkerdYaml], /^listening web 127\.0\.0\.1:\d+[\s\S]*admin listening on/m, 15_000);
    procs.push(l);
    const lport = Number(/^listening web 127\.0\.0\.1:(\d+)/m.exec(l.output())![1]);
    seen.length = 0;
    // 100 requests: each upstream sees the Consul host name; the caller gets `web` back.
    for (let i = 0; i < 100; i++) {
      const r = await request(lport, { headers: { host: 'web' } });
      assert.equal(r.status, 302, `${via.iface}: ${r.status} ${r.headers['l5d-err'] ?? ''} ${r.body}`);
      assert.equal(r.headers['location'], 'http://web/next', via.iface);
    }
    assert.deepEqual(new Set(seen.map((s) => s.split(' ')[1])), new Set(['web.service.dc1.consul']), `${via.iface}: ${seen.slice(0, 3).join(', ')}`);
    const toHeavy = seen.filter((s) => s.startsWith('heavy ')).length;
    // Weighted 9:1 (p2c over weights): the heavy node takes most requests.
    if (via.iface === 'io.l5d.mesh') assert.ok(toHeavy >= 70, `${via.iface}: ${toHeavy} of 100 to the weight-9 node`);
    await l.stop(2000);
  }
});
