/**
 * namerd's interfaces over TLS (their `tls` block, as Linkerd's namerd configures it):
 * io.l5d.mesh (gRPC) and io.l5d.httpController (HTTPS), one-way and mutual, against Meshwork's
 * own clients (the io.l5d.mesh interpreter, node:https); files and unsupported keys named.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import '../../src/config/builtin-plugins.js';
import { parseNamerdConfig } from '../../src/config/load.js';
import { startNamerd, type RunningNamerd } from '../../src/namerd/namerd.js';
import { MeshInterpreter } from '../../src/interpreters/mesh.js';
import { Dtab, readPath } from '../../src/naming/index.js';
import { makeTestCerts } from '../support/certs.js';
import { eventually, okTree, watch, type Cleanups } from '../interpreters/support.js';

const cleanups: Cleanups = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

const certs = makeTestCerts();
cleanups.push(() => certs.cleanup());

const RETRY = { baseSeconds: 0.05, maxSeconds: 0.3 };
const inet = (port: number): string => `/$/inet/127.0.0.1/${port}`;

/** namerd with both interfaces behind `tls` (a YAML flow mapping), `default` = `/svc/web => ...`. */
async function namerd(tls: string): Promise<{ n: RunningNamerd; mesh: number; api: number }> {
  const yaml =
    `admin:\n  port: 0\nstorage:\n  kind: io.l5d.inMemory\n  namespaces:\n    default: "/svc/web => ${inet(8085)}"\n` +
    `interfaces:\n- kind: io.l5d.mesh\n  ip: 127.0.0.1\n  port: 0\n  tls: ${tls}\n- kind: io.l5d.httpController\n  ip: 127.0.0.1\n  port: 0\n  tls: ${tls}\n`;
  const n = await startNamerd(parseNamerdConfig(yaml, 'namerd.yaml'));
  cleanups.unshift(() => n.close());
  return { n, mesh: n.listeners.find((l) => l.kind === 'io.l5d.mesh')!.port, api: n.listeners.find((l) => l.kind === 'io.l5d.httpController')!.port };
}

function interpreter(port: number, tls: Record<string, unknown>): MeshInterpreter {
  const i = new MeshInterpreter({ dst: inet(port), root: '/default', retry: RETRY, tls } as never, readPath);
  cleanups.unshift(() => i.close());
  return i;
}

/** GET over HTTPS trusting the test CA: status and body, or the error's code. */
function httpsGet(port: number, path: string, client?: { cert: Buffer; key: Buffer }): Promise<string> {
  return new Promise((resolve) => {
    const req = httpsRequest({ host: '127.0.0.1', port, path, servername: 'localhost', ca: readFileSync(certs.caCert), ...client, agent: false, timeout: 3000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve(`${res.statusCode} ${body}`));
      res.on('error', (e: NodeJS.ErrnoException) => resolve(`error ${e.code ?? e.message}`));
    });
    req.on('error', (e: NodeJS.ErrnoException) => resolve(`error ${e.code ?? e.message}`));
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.end();
  });
}

const serverTls = `{certPath: ${JSON.stringify(certs.serverCert)}, keyPath: ${JSON.stringify(certs.serverKey)}}`;
const mutualTls = `{certPath: ${JSON.stringify(certs.serverCert)}, keyPath: ${JSON.stringify(certs.serverKey)}, caCertPath: ${JSON.stringify(certs.caCert)}, requireClientAuth: true}`;

test('tls on io.l5d.mesh and io.l5d.httpController: verified clients bind and read; plaintext and untrusted clients do not', async () => {
  const { mesh, api } = await namerd(serverTls);
  const good = interpreter(mesh, { trustCerts: [certs.caCert], commonName: 'localhost' });
  const t = watch(good.bind(Dtab.empty, readPath('/svc/web')).states, cleanups);
  assert.deepEqual(okTree(await t.until((x) => x.type === 'ok')), { id: inet(8085), residual: '/' });

  // The interpreter without tls speaks plaintext gRPC to a TLS port: it never binds.
  const plain = new MeshInterpreter({ dst: inet(mesh), root: '/default', retry: RETRY } as never, readPath);
  cleanups.unshift(() => plain.close());
  const p = watch(plain.bind(Dtab.empty, readPath('/svc/web')).states, cleanups);
  await eventually(() => plain.stats.ended >= 2, 4000, 'two failed plaintext attempts');
  assert.equal(p.last().type, 'pending');
  const untrusted = interpreter(mesh, { commonName: 'localhost' });
  const u = watch(untrusted.bind(Dtab.empty, readPath('/svc/web')).states, cleanups);
  await eventually(() => untrusted.stats.ended >= 2, 4000, 'two refused handshakes');
  assert.equal(u.last().type, 'pending');

  assert.equal(await httpsGet(api, '/api/1/dtabs'), '200 ["default"]');
  const r = await fetch(`http://127.0.0.1:${api}/api/1/dtabs`).then((x) => `${x.status}`, (e: Error) => `error ${(e.cause as NodeJS.ErrnoException | undefined)?.code ?? e.message}`);
  assert.match(r, /^error /, 'plain HTTP to the HTTPS controller gets no answer');
});

test('requireClientAuth: only clients with a certificate from caCertPath get through, on both interfaces', async () => {
  const { mesh, api } = await namerd(mutualTls);
  const anonymous = interpreter(mesh, { trustCerts: [certs.caCert], commonName: 'localhost' });
  const a = watch(anonymous.bind(Dtab.empty, readPath('/svc/web')).states, cleanups);
  await eventually(() => anonymous.stats.ended >= 2, 4000, 'two refused handshakes');
  assert.equal(a.last().type, 'pending');
  const withCert = interpreter(mesh, { trustCerts: [certs.caCert], commonName: 'localhost', clientAuth: { certPath: certs.clientCert, keyPath: certs.clientKey } });
  const w = watch(withCert.bind(Dtab.empty, readPath('/svc/web')).states, cleanups);
  assert.deepEqual(okTree(await w.until((x) => x.type === 'ok')), { id: inet(8085), residual: '/' });

  assert.match(await httpsGet(api, '/api/1/dtabs'), /^error /);
  assert.equal(await httpsGet(api, '/api/1/dtabs', { cert: readFileSync(certs.clientCert), key: readFileSync(certs.clientKey) }), '200 ["default"]');
});

test('bad tls blocks: an unreadable file and io.l5d.mesh protocols are named at start and by --validate', async () => {
  const missing = join(certs.dir, 'nope.crt');
  const cfg = (tls: string): string => `storage:\n  kind: io.l5d.inMemory\ninterfaces:\n- kind: io.l5d.mesh\n  ip: 127.0.0.1\n  port: 0\n  tls: ${tls}\n`;
  await assert.rejects(startNamerd(parseNamerdConfig(cfg(`{certPath: ${JSON.stringify(missing)}, keyPath: ${JSON.stringify(certs.serverKey)}}`), 'namerd.yaml')), (e: Error) => {
    assert.match(e.message, /^namerd\.yaml: interfaces\[0\]\.tls\.certPath: found ".*nope\.crt"; allowed: a readable PEM file \(ENOENT\)$/);
    assert.equal((e as { code?: string }).code, 'MESH_ERR_CONFIG_TLS');
    return true;
  });
  await assert.rejects(startNamerd(parseNamerdConfig(cfg(`{certPath: ${JSON.stringify(certs.serverCert)}, keyPath: ${JSON.stringify(certs.serverKey)}, protocols: [TLSv1.3]}`), 'namerd.yaml')), /interfaces\[0\]\.tls\.protocols: found \["TLSv1\.3"\]; allowed: nothing for io\.l5d\.mesh/);
  const file = join(certs.dir, 'namerd.yaml');
  writeFileSync(file, cfg(`{certPath: ${JSON.stringify(missing)}, keyPath: ${JSON.stringify(certs.serverKey)}}`));
  const v = spawnSync(process.execPath, [join(process.cwd(), 'bin', 'meshwork.js'), 'namerd', '--validate', file], { encoding: 'utf8', timeout: 15_000 });
  assert.equal(v.status, 2, v.stdout + v.stderr);
  assert.match(v.stderr, /interfaces\[0\]\.tls\.certPath: found ".*nope\.crt"; allowed: a readable PEM file \(ENOENT\)/);
});
