/**
 * Routers that follow namerd, through real processes (`meshwork namerd`, `meshwork linkerd`):
 *  (a) io.l5d.namerd.http and io.l5d.mesh: namerd killed → requests still route on the last
 *      state; namerd restarted on the same port with a dtab to a second upstream → traffic
 *      moves there within a bounded time. The router's `dtab:` and the request's l5d-dtab both
 *      reach namerd (Linkerd sends base ++ local).
 *  (b) linkerd started while namerd is down (bindingTimeoutMs 500): 504 with the binding
 *      timeout in l5d-err, then namerd starts and requests succeed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, onChosenPort, spawnReady, type ReadyProcess } from '../support/process.js';
import { request, upstream, type Upstream } from '../router/support.js';
import { e2eScratch } from '../support/linker.js';

const BIN = join(process.cwd(), 'bin', 'meshwork.js');
const { dir, procs, ups } = e2eScratch('meshwork-follow-');

const ep = (u: Upstream): string => `/$/inet/127.0.0.1/${u.port}`;
let files = 0;

async function meshwork(kind: 'namerd' | 'linkerd', yaml: string, ready: RegExp): Promise<ReadyProcess> {
  const file = join(dir, `${kind}-${files++}.yaml`);
  writeFileSync(file, yaml);
  const p = await spawnReady(process.execPath, [BIN, kind, file], ready, 15_000);
  procs.push(p);
  return p;
}

/** namerd with the `default` namespace set to `dtab`; the interface `iface` on the fixed `port`. */
function startNamerd(iface: 'io.l5d.httpController' | 'io.l5d.mesh', port: number, dtab: string): Promise<ReadyProcess> {
  const other = iface === 'io.l5d.mesh' ? 'io.l5d.httpController' : 'io.l5d.mesh';
  return onChosenPort(() => meshwork(
    'namerd',
    `admin:\n  port: 0\nstorage:\n  kind: io.l5d.inMemory\n  namespaces:\n    default: ${JSON.stringify(dtab)}\n` +
      `interfaces:\n- kind: ${iface}\n  ip: 127.0.0.1\n  port: ${port}\n- kind: ${other}\n  ip: 127.0.0.1\n  port: 0\n`,
    new RegExp(`namerd ${iface.replace(/\./g, '\\.')} listening on 127\\.0\\.0\\.1:${port}[\\s\\S]*namerd admin listening|namerd admin listening[\\s\\S]*namerd ${iface.replace(/\./g, '\\.')} listening on 127\\.0\\.0\\.1:${port}`),
  ));
}

async function startLinkerd(interpreter: string, extra = ''): Promise<{ proc: ReadyProcess; port: number }> {
  const proc = await meshwork(
    'linkerd',
    `admin:\n  port: 0\nrouters:\n- protocol: http\n  label: web\n${extra}  interpreter:\n${interpreter}  servers:\n  - port: 0\n`,
    /^listening web 127\.0\.0\.1:\d+[\s\S]*admin listening on|admin listening on[\s\S]*^listening web 127\.0\.0\.1:\d+/m,
  );
  return { proc, port: Number(/^listening web 127\.0\.0\.1:(\d+)/m.exec(proc.output())![1]) };
}

const namerdHttp = (port: number): string =>
  `    kind: io.l5d.namerd.http\n    dst: /$/inet/127.0.0.1/${port}\n    namespace: default\n    retry:\n      baseSeconds: 0.05\n      maxSeconds: 0.5\n`;
const mesh = (port: number): string =>
  `    kind: io.l5d.mesh\n    dst: /$/inet/127.0.0.1/${port}\n    root: /default\n    retry:\n      baseSeconds: 0.05\n      maxSeconds: 0.5\n`;

async function counts(port: number, n: number, headers: Record<string, string> = {}): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (let i = 0; i < n; i++) {
    const r = await request(port, { headers: { host: 'web', ...headers } });
    const k = r.status === 200 ? r.body : `${r.status} ${r.headers['l5d-err'] ?? r.body}`;
    out[k] = (out[k] ?? 0) + 1;
  }
  return out;
}

/** Sends until the answer is `want`; every answer meanwhile must be `ok(status, body)`. Bounded. */
async function until(port: number, want: string, ms: number, ok: (status: number, body: string) => boolean): Promise<number> {
  const t0 = Date.now();
  for (let i = 0; i < 2000 && Date.now() - t0 < ms; i++) {
    const r = await request(port, { headers: { host: 'web' } });
    assert.ok(ok(r.status, r.body), `unexpected answer while waiting: ${r.status} ${r.headers['l5d-err'] ?? ''} ${r.body}`);
    if (r.status === 200 && r.body === want) return Date.now() - t0;
    await new Promise((res) => setTimeout(res, 20));
  }
  return assert.fail(`no '${want}' within ${ms} ms`);
}

async function upstreams(): Promise<[Upstream, Upstream]> {
  const v1 = await upstream((_req, res) => res.end('v1'));
  const v2 = await upstream((_req, res) => res.end('v2'));
  ups.push(v1, v2);
  return [v1, v2];
}

for (const [kind, iface, interp] of [
  ['io.l5d.namerd.http', 'io.l5d.httpController', namerdHttp],
  ['io.l5d.mesh', 'io.l5d.mesh', mesh],
] as const) {
  test(`${kind}: namerd killed → requests still route; restarted on the same port with a new dtab → traffic follows`, async () => {
    const [v1, v2] = await upstreams();
    const port = await freePort();
    // The router's dtab rewrites /svc to /alias; only namerd knows /alias, so routing at all
    // shows the router's base dtab reaches namerd.
    // Both start at once (namerd's port is fixed); linkerd retries until namerd answers.
    const [n1, l] = await Promise.all([startNamerd(iface, port, `/alias/web => ${ep(v1)}`), startLinkerd(interp(port), '  dtab: /svc => /alias\n')]);
    assert.deepEqual(await counts(l.port, 10), { v1: 10 });
    // The request's own dentries are sent too, after the router's.
    assert.deepEqual(await counts(l.port, 3, { 'l5d-dtab': `/alias/web => ${ep(v2)}` }), { v2: 3 });

    n1.child.kill('SIGKILL');
    await n1.stop();
    assert.deepEqual(await counts(l.port, 10), { v1: 10 }, 'the last state keeps routing');

    await startNamerd(iface, port, `/alias/web => ${ep(v2)}`);
    // Every answer meanwhile is v1 (old state) until the switch; retry waits are capped at 0.5 s.
    const took = await until(l.port, 'v2', 5000, (s, b) => s === 200 && (b === 'v1' || b === 'v2'));
    assert.ok(took < 3000, `followed the restarted namerd after ${took} ms`);
    assert.deepEqual(await counts(l.port, 10), { v2: 10 });
  });
}

for (const [kind, iface, interp] of [
  ['io.l5d.namerd.http', 'io.l5d.httpController', namerdHttp],
  ['io.l5d.mesh', 'io.l5d.mesh', mesh],
] as const) {
  test(`${kind}: linkerd started while namerd is down → 504 binding timeout; namerd starts → requests succeed`, async () => {
    const [v1] = await upstreams();
    const port = await freePort();
    const l = await startLinkerd(interp(port), '  bindingTimeoutMs: 500\n');
    const t0 = Date.now();
    const r = await request(l.port, { headers: { host: 'web' } });
    const took = Date.now() - t0;
    assert.equal(r.status, 504, r.body);
    // The 500 ms binding timeout answers, not the 10 s default (upper bound loose for loaded CI machines).
    assert.ok(took >= 450 && took < 3000, `answered after ${took} ms`);
    const err = String(r.headers['l5d-err']);
    assert.equal(err, 'exceeded 500ms binding timeout while resolving name: /svc/web');

    await startNamerd(iface, port, `/svc/web => ${ep(v1)}`);
    const followed = await until(l.port, 'v1', 5000, (s) => s === 200 || s === 504);
    assert.ok(followed < 3000, `ok ${followed} ms after namerd started`);
    assert.deepEqual(await counts(l.port, 10), { v1: 10 });
  });
}

test('io.l5d.namerd.http: the admin dtab playground asks namerd, with the router dtab and the extra dentries', async () => {
  const [v1] = await upstreams();
  const port = await freePort();
  const [, l] = await Promise.all([startNamerd('io.l5d.httpController', port, `/alias/web => ${ep(v1)}`), startLinkerd(namerdHttp(port), '  dtab: /svc => /alias\n')]);
  assert.deepEqual(await counts(l.port, 2), { v1: 2 });
  const admin = Number(/^admin listening on 127\.0\.0\.1:(\d+)$/m.exec(l.proc.output())![1]);
  const get = async (q: string): Promise<{ status: number; json: Record<string, unknown> }> => {
    const r = await fetch(`http://127.0.0.1:${admin}/delegator.json?${q}`);
    return { status: r.status, json: (await r.json()) as Record<string, unknown> };
  };
  // /alias is known to namerd only: a local explanation could not bind it.
  const r = await get('namespace=web&path=/svc/web');
  assert.equal(r.status, 200);
  const text = JSON.stringify(r.json);
  assert.match(text, new RegExp(`"id":"${ep(v1).replace(/[$/.]/g, (c) => `\\${c}`)}"`));
  assert.match(text, /"dentry":\{"prefix":"\/svc","dst":"\/alias"\}/);
  const extra = await get(`namespace=web&path=/svc/web&dtab=${encodeURIComponent('/alias/web => /$/inet/127.0.0.1/1')}`);
  assert.match(JSON.stringify(extra.json), /"id":"\/\$\/inet\/127\.0\.0\.1\/1"/);
});
