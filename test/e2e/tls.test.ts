/**
 * TLS through a real `meshwork linkerd`, as Linkerd's tls.yaml / mutualTls.yaml examples set it
 * up (certificates made by openssl for the run, test/support/certs.ts):
 *  - a TLS server answers HTTPS; with `requireClientAuth` it refuses a client without a
 *    certificate signed by `caCertPath` (counted in handshake_failures) and serves one with;
 *  - the client `tls` block validates the upstream's certificate against `commonName` (a
 *    static config's `{var}` capture substituted), answers 502 naming the failure when it does
 *    not match, skips validation with `disableValidation`, and presents `clientAuth` to an
 *    upstream that requires client certificates;
 *  - `forwardClientCert`: a client with it sends the caller's certificate upstream as
 *    `x-forwarded-client-cert` (or, on a plain server, what the caller sent); one without it
 *    removes any the caller sent;
 *  - a certificate file that cannot be read stops the linker at start, naming the key path.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request as httpsRequest, createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import { spawnSync } from 'node:child_process';
import type { TLSSocket } from 'node:tls';
import { spawnReady, type ReadyProcess } from '../support/process.js';
import { startLinker } from '../support/linker.js';
import { request, upstream, type Upstream } from '../router/support.js';
import { makeTestCerts, type TestCerts } from '../support/certs.js';

const BIN = join(process.cwd(), 'bin', 'meshwork.js');
const dir = mkdtempSync(join(tmpdir(), 'meshwork-tls-'));
const procs: ReadyProcess[] = [];
const ups: Upstream[] = [];
const tlsUps: HttpsServer[] = [];
let certs: TestCerts;

before(() => {
  certs = makeTestCerts();
});
after(async () => {
  for (const p of procs) await p.stop(1000);
  for (const u of ups) await u.close();
  for (const s of tlsUps) await new Promise((r) => { s.closeAllConnections(); s.close(r); });
  certs?.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

let files = 0;
async function linkerd(yaml: string): Promise<{ port: number; admin: number }> {
  const file = join(dir, `linkerd-${files++}.yaml`);
  writeFileSync(file, yaml);
  const l = await startLinker(file);
  procs.push(l.proc);
  return { port: l.port, admin: l.admin };
}

/** An HTTPS request to the linker; resolves with status and body, or the client-side error. */
function https(port: number, opts: { cert?: boolean } = {}): Promise<{ status: number; body: string } | { error: string }> {
  return new Promise((resolve) => {
    const req = httpsRequest(
      {
        host: '127.0.0.1', port, path: '/', headers: { host: 'web' }, servername: 'localhost', agent: false, ca: readFileSync(certs.caCert),
        ...(opts.cert ? { cert: readFileSync(certs.clientCert), key: readFileSync(certs.clientKey) } : {}),
      },
      (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode!, body }));
      },
    );
    req.setTimeout(5000, () => req.destroy(new Error('timeout')));
    req.on('error', (e: NodeJS.ErrnoException) => resolve({ error: e.code ?? e.message }));
    req.end();
  });
}

/** An HTTPS upstream with the test server certificate; it answers with the client cert's CN. */
async function tlsUpstream(requireClientCert: boolean): Promise<number> {
  const s = createHttpsServer(
    { cert: readFileSync(certs.serverCert), key: readFileSync(certs.serverKey), ca: readFileSync(certs.caCert), requestCert: requireClientCert, rejectUnauthorized: requireClientCert },
    (req, res) => {
      const peer = (req.socket as TLSSocket).getPeerCertificate();
      res.end(`tls upstream, client ${peer?.subject?.CN ?? 'anonymous'}`);
    },
  );
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  tlsUps.push(s);
  return (s.address() as { port: number }).port;
}

const head = (extra: string): string => `admin:\n  ip: 127.0.0.1\n  port: 0\nrouters:\n- protocol: http\n  label: web\n${extra}`;

test('a TLS server answers HTTPS; with requireClientAuth only clients with a certificate get through', async () => {
  const u = await upstream((_q, r) => r.end('plain upstream'));
  ups.push(u);
  const { port } = await linkerd(head(`  dtab: /svc => /$/inet/127.0.0.1/${u.port}\n  servers:\n  - port: 0\n    tls:\n      certPath: ${certs.serverCert}\n      keyPath: ${certs.serverKey}\n`));
  assert.deepEqual(await https(port), { status: 200, body: 'plain upstream' });
  // Plain HTTP on the TLS port gets no HTTP answer.
  const plain = await request(port, { headers: { host: 'web' } }).then((r) => r.status, (e: NodeJS.ErrnoException) => e.code ?? 'error');
  assert.notEqual(plain, 200);

  const m = await linkerd(head(`  dtab: /svc => /$/inet/127.0.0.1/${u.port}\n  servers:\n  - port: 0\n    tls:\n      certPath: ${certs.serverCert}\n      keyPath: ${certs.serverKey}\n      requireClientAuth: true\n      caCertPath: ${certs.caCert}\n`));
  const refused = await https(m.port);
  assert.ok('error' in refused, JSON.stringify(refused));
  assert.deepEqual(await https(m.port, { cert: true }), { status: 200, body: 'plain upstream' });
  const metrics = JSON.parse((await request(m.admin, { path: '/admin/metrics.json' })).body) as Record<string, number>;
  const key = Object.keys(metrics).find((k) => k.startsWith('rt/web/server/') && k.endsWith('/handshake_failures'));
  assert.ok(key !== undefined && metrics[key]! >= 1, JSON.stringify(Object.keys(metrics).filter((k) => k.includes('handshake'))));
});

test('client tls: commonName (a {var} capture) is validated, a mismatch is a 502, disableValidation and clientAuth work', async () => {
  const anyClient = await tlsUpstream(false);
  const mutual = await tlsUpstream(true);
  // commonName from the static prefix's {host} capture: 127.0.0.1, in the certificate's SAN.
  const ok = await linkerd(head(
    `  dtab: |\n    /svc/web => /$/inet/127.0.0.1/${anyClient};\n    /svc/mutual => /$/inet/127.0.0.1/${mutual};\n` +
      `  client:\n    kind: io.l5d.static\n    configs:\n    - prefix: "/$/inet/{host}"\n      tls:\n        commonName: "{host}"\n        trustCerts:\n        - ${certs.caCert}\n` +
      `        clientAuth:\n          certPath: ${certs.clientCert}\n          keyPath: ${certs.clientKey}\n  servers:\n  - port: 0\n`,
  ));
  const r = await request(ok.port, { headers: { host: 'web' } });
  assert.equal(r.status, 200, `${r.status} ${r.headers['l5d-err'] ?? ''}`);
  // An upstream that asks for no certificate gets none; one that requires it gets clientAuth's.
  assert.equal(r.body, 'tls upstream, client anonymous');
  const m = await request(ok.port, { headers: { host: 'mutual' } });
  assert.equal(m.status, 200, `${m.status} ${m.headers['l5d-err'] ?? ''}`);
  assert.equal(m.body, 'tls upstream, client meshwork-test-client');

  const wrong = await linkerd(head(`  dtab: /svc => /$/inet/127.0.0.1/${anyClient}\n  client:\n    tls:\n      commonName: wrong.example\n      trustCerts:\n      - ${certs.caCert}\n  servers:\n  - port: 0\n`));
  const bad = await request(wrong.port, { headers: { host: 'web' } });
  assert.equal(bad.status, 502);
  assert.match(String(bad.headers['l5d-err']), /wrong\.example|ERR_TLS_CERT_ALTNAME_INVALID/);

  const untrusted = await linkerd(head(`  dtab: /svc => /$/inet/127.0.0.1/${anyClient}\n  client:\n    tls:\n      commonName: localhost\n  servers:\n  - port: 0\n`));
  assert.equal((await request(untrusted.port, { headers: { host: 'web' } })).status, 502, 'a certificate from an unknown CA is refused');
  const noCheck = await linkerd(head(`  dtab: /svc => /$/inet/127.0.0.1/${anyClient}\n  client:\n    tls:\n      disableValidation: true\n  servers:\n  - port: 0\n`));
  const nc = await request(noCheck.port, { headers: { host: 'web' } });
  assert.deepEqual([nc.status, nc.body], [200, 'tls upstream, client anonymous']);
});

test('large bodies pass both ways through a TLS server and a TLS upstream', async () => {
  const big = Buffer.alloc(3 * 1024 * 1024 + 17, 'abcdefghij');
  const s = createHttpsServer({ cert: readFileSync(certs.serverCert), key: readFileSync(certs.serverKey) }, (req, res) => {
    let n = 0;
    req.on('data', (c: Buffer) => (n += c.length));
    req.on('end', () => { res.setHeader('x-received', String(n)); res.end(big); });
  });
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  tlsUps.push(s);
  const up = (s.address() as { port: number }).port;
  const { port } = await linkerd(head(`  dtab: /svc => /$/inet/127.0.0.1/${up}\n  client:\n    tls:\n      disableValidation: true\n  servers:\n  - port: 0\n    tls:\n      certPath: ${certs.serverCert}\n      keyPath: ${certs.serverKey}\n`));
  const upload = Buffer.alloc(2 * 1024 * 1024 + 5, 'z');
  const got = await new Promise<{ status: number; received: string | undefined; body: Buffer }>((resolve, reject) => {
    const req = httpsRequest({ host: '127.0.0.1', port, method: 'POST', path: '/', headers: { host: 'web', 'content-length': String(upload.length) }, servername: 'localhost', agent: false, ca: readFileSync(certs.caCert) }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, received: res.headers['x-received'] as string | undefined, body: Buffer.concat(chunks) }));
    });
    req.setTimeout(15000, () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(upload);
  });
  assert.equal(got.status, 200);
  assert.equal(got.received, String(upload.length));
  assert.equal(got.body.length, big.length);
  assert.ok(got.body.equals(big));
});

test('admin.tls serves the admin port over HTTPS (mutual with requireClientAuth); an unreadable file stops the linker', async () => {
  const tlsBlock = `  tls:\n    certPath: ${certs.serverCert}\n    keyPath: ${certs.serverKey}\n    caCertPath: ${certs.caCert}\n    requireClientAuth: true\n`;
  const file = join(dir, `linkerd-${files++}.yaml`);
  writeFileSync(file, `admin:\n  ip: 127.0.0.1\n  port: 0\n${tlsBlock}routers:\n- protocol: http\n  label: web\n  dtab: /svc => /$/inet/127.0.0.1/1\n  servers:\n  - port: 0\n`);
  const proc = await spawnReady(process.execPath, [BIN, 'linkerd', file], /admin listening on [^\s]*:\d+/, 15_000);
  procs.push(proc);
  const admin = Number(/admin listening on [^\s]*:(\d+)/.exec(proc.output())![1]);
  const get = (cert: boolean): Promise<string> =>
    new Promise((resolve) => {
      const req = httpsRequest({ host: '127.0.0.1', port: admin, path: '/admin/ping', servername: 'localhost', agent: false, ca: readFileSync(certs.caCert), ...(cert ? { cert: readFileSync(certs.clientCert), key: readFileSync(certs.clientKey) } : {}) }, (res) => {
        let b = '';
        res.on('data', (c: Buffer) => (b += c));
        res.on('end', () => resolve(`${res.statusCode} ${b.trim()}`));
      });
      req.on('error', (e: NodeJS.ErrnoException) => resolve(`error ${e.code ?? e.message}`));
      req.end();
    });
  assert.equal(await get(true), '200 pong');
  assert.match(await get(false), /^error /);

  const bad = join(dir, 'admin-missing.yaml');
  writeFileSync(bad, `admin:\n  port: 0\n  tls:\n    certPath: ${join(dir, 'nope.pem')}\n    keyPath: ${certs.serverKey}\nrouters:\n- protocol: http\n  dtab: /svc => /$/inet/127.0.0.1/1\n  servers:\n  - port: 0\n`);
  const r = spawnSync(process.execPath, [BIN, 'linkerd', bad], { encoding: 'utf8', timeout: 15000 });
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, /admin\.tls\.certPath: found ".*nope\.pem"; allowed: a readable PEM file \(ENOENT\)/);
});

test('a certificate file that cannot be read stops the linker, naming the key path', () => {
  const file = join(dir, 'missing-cert.yaml');
  writeFileSync(file, head(`  dtab: /svc => /$/inet/127.0.0.1/1\n  servers:\n  - port: 0\n    tls:\n      certPath: ${join(dir, 'nope.pem')}\n      keyPath: ${certs.serverKey}\n`));
  const r = spawnSync(process.execPath, [BIN, 'linkerd', file], { encoding: 'utf8', timeout: 15000 });
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, /routers\[0\]\.servers\[0\]\.tls\.certPath: found ".*nope\.pem"; allowed: a readable PEM file \(ENOENT\)/);
});

/** An HTTPS (or, with `plain`, HTTP) request to the linker with extra headers; resolves with the body. */
function call(port: number, host: string, headers: Record<string, string>, opts: { cert?: boolean; plain?: boolean } = {}): Promise<string> {
  if (opts.plain) return request(port, { headers: { host, ...headers } }).then((r) => r.body);
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      {
        host: '127.0.0.1', port, path: '/', headers: { host, ...headers }, servername: 'localhost', agent: false, ca: readFileSync(certs.caCert),
        ...(opts.cert ? { cert: readFileSync(certs.clientCert), key: readFileSync(certs.clientKey) } : {}),
      },
      (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c));
        res.on('end', () => resolve(body));
      },
    );
    req.setTimeout(5000, () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

test('forwardClientCert: the caller\'s certificate goes upstream as x-forwarded-client-cert; without it the field is removed', async () => {
  /** An upstream answering `<name>:<the x-forwarded-client-cert it got, or ->`. */
  const seen = async (name: string): Promise<Upstream> => {
    const u = await upstream((q, r) => r.end(`${name}:${String(q.headers['x-forwarded-client-cert'] ?? '-')}`));
    ups.push(u);
    return u;
  };
  const fwd = await seen('fwd');
  const plainUp = await seen('nofwd');
  const { port } = await linkerd(
    head(
      `  dtab: |\n    /svc/fwd => /$/inet/127.0.0.1/${fwd.port};\n    /svc/nofwd => /$/inet/127.0.0.1/${plainUp.port};\n` +
        `  client:\n    kind: io.l5d.static\n    configs:\n    - prefix: /$/inet/127.0.0.1/${fwd.port}\n      forwardClientCert: true\n` +
        `  servers:\n  - port: 0\n    tls:\n      certPath: ${certs.serverCert}\n      keyPath: ${certs.serverKey}\n      requireClientAuth: true\n      caCertPath: ${certs.caCert}\n  - port: 0\n`,
    ),
  );
  const plainPort = Number([...procs[procs.length - 1]!.output().matchAll(/^listening web 127\.0\.0\.1:(\d+)/gm)][1]![1]);

  // The expected value, from the PEM itself: SHA-256 of the DER, the URI and DNS names in the
  // certificate's order, the subject in RFC 2253 order (last RDN first).
  const pem = readFileSync(certs.clientCert, 'utf8');
  const der = Buffer.from(pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64');
  const hash = createHash('sha256').update(der).digest('hex').toUpperCase();
  const want = `Hash=${hash};SAN=spiffe://meshwork.test/client;DNS=client.meshwork.test;DNS=alt.meshwork.test;Subject="CN=meshwork-test-client,O=Meshwork Test,C=US"`;

  const spoof = { 'x-forwarded-client-cert': 'Hash=00;Subject="CN=admin"' };
  assert.equal(await call(port, 'fwd', spoof, { cert: true }), `fwd:${want}`);
  assert.equal(await call(port, 'nofwd', spoof, { cert: true }), 'nofwd:-');
  // A plain connection has no certificate: a forwarding client passes on what the caller sent.
  assert.equal(await call(plainPort, 'fwd', spoof, { plain: true }), `fwd:${spoof['x-forwarded-client-cert']}`);
  assert.equal(await call(plainPort, 'nofwd', spoof, { plain: true }), 'nofwd:-');
});
