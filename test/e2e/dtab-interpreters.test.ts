/**
 * Routers whose dtab comes from elsewhere, through a real `meshwork linkerd`:
 * - the io.l5d.fs interpreter (Linkerd's linkerd/examples/fs.yaml shape): the dtab comes from a
 *   file and the io.l5d.fs namer finds the hosts. Editing the dtab file moves traffic without a
 *   restart; the router's own `dtab:` and a request's `l5d-dtab` still win over the file; the
 *   admin's delegator explains with the file's entries;
 * - io.l5d.consul.interpreter against the in-test Consul: an edit of the stored dtab moves
 *   traffic.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request as httpRequest } from 'node:http';
import { e2eScratch, startLinker, untilBody } from '../support/linker.js';
import { request, upstream } from '../router/support.js';
import { startFakeConsul } from '../support/fake-consul.js';

const { dir, procs, ups } = e2eScratch('meshwork-fsinterp-');

function getJson(port: number, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    httpRequest({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      let b = '';
      res.on('data', (c: Buffer) => (b += c));
      res.on('end', () => resolve(`${res.statusCode} ${b}`));
    }).on('error', reject).end();
  });
}

test('the dtab file routes, an edit to it moves traffic, and router and request entries still win', async () => {
  const [v1, v2, v3] = [await upstream((_q, r) => r.end('v1')), await upstream((_q, r) => r.end('v2')), await upstream((_q, r) => r.end('v3'))];
  ups.push(v1, v2, v3);
  mkdirSync(join(dir, 'disco'));
  writeFileSync(join(dir, 'disco', 'web-v1'), `127.0.0.1 ${v1.port}\n`);
  writeFileSync(join(dir, 'disco', 'web-v2'), `127.0.0.1 ${v2.port}\n`);
  writeFileSync(join(dir, 'disco', 'web-v3'), `127.0.0.1 ${v3.port}\n`);
  const dtabFile = join(dir, 'example.dtab');
  writeFileSync(dtabFile, '/svc => /#/io.l5d.fs;\n/svc/web => /svc/web-v1;\n');
  const file = join(dir, 'linkerd.yaml');
  writeFileSync(
    file,
    `admin:\n  ip: 127.0.0.1\n  port: 0\nnamers:\n- kind: io.l5d.fs\n  rootDir: ${join(dir, 'disco')}\n` +
      `routers:\n- protocol: http\n  label: web\n  dtab: /svc/api => /svc/web-v3\n  interpreter:\n    kind: io.l5d.fs\n    dtabFile: ${dtabFile}\n  servers:\n  - port: 0\n`,
  );
  const { proc, port, admin } = await startLinker(file);
  procs.push(proc);

  const first = await request(port, { headers: { host: 'web' } });
  assert.equal(first.status, 200, `${first.status} ${first.headers['l5d-err'] ?? ''}`);
  assert.equal(first.body, 'v1');
  // The router's dtab: entry comes after the file's and wins for /svc/api.
  assert.equal((await request(port, { headers: { host: 'api' } })).body, 'v3');
  // A request's l5d-dtab wins over both.
  assert.equal((await request(port, { headers: { host: 'web', 'l5d-dtab': '/svc/web => /svc/web-v3' } })).body, 'v3');

  writeFileSync(dtabFile, '/svc => /#/io.l5d.fs;\n/svc/web => /svc/web-v2;\n');
  assert.equal(await untilBody(port, 'web', 'v2'), 'v2', 'traffic moved to v2 within 5 s of the edit');

  const explained = await getJson(admin, '/delegator.json?namespace=web&path=/svc/web&dtab=');
  assert.match(explained, /^200 /);
  assert.match(explained, /web-v2/, explained);
});

test('io.l5d.consul.interpreter routes by the dtab in Consul and follows an edit', async () => {
  const [a, b] = [await upstream((_q, r) => r.end('a')), await upstream((_q, r) => r.end('b'))];
  ups.push(a, b);
  const consul = await startFakeConsul({ datacenter: 'dc1' });
  try {
    consul.set('namerd/dtabs/internal', `/svc/web => /$/inet/127.0.0.1/${a.port}`);
    const file = join(dir, 'consul-linkerd.yaml');
    writeFileSync(file, `admin:\n  ip: 127.0.0.1\n  port: 0\nrouters:\n- protocol: http\n  label: web\n  interpreter:\n    kind: io.l5d.consul.interpreter\n    host: 127.0.0.1\n    port: ${consul.port}\n    namespace: internal\n  servers:\n  - port: 0\n`);
    const { proc, port } = await startLinker(file);
    procs.push(proc);
    const first = await request(port, { headers: { host: 'web' } });
    assert.equal(first.status, 200, `${first.status} ${first.headers['l5d-err'] ?? ''}`);
    assert.equal(first.body, 'a');
    consul.set('namerd/dtabs/internal', `/svc/web => /$/inet/127.0.0.1/${b.port}`);
    assert.equal(await untilBody(port, 'web', 'b'), 'b', 'traffic moved within 5 s of the Consul edit');
  } finally {
    for (const p of procs.splice(0)) await p.stop(1000);
    await consul.stop();
  }
});
