/**
 * The canary story through real processes: `meshwork namerd` (in-memory store) and a
 * `meshwork linkerd` whose router follows it, once over io.l5d.mesh (gRPC) and once over
 * io.l5d.namerd (namer.thrift over ThriftMux). Three dtab writes move traffic
 * 100% v1 -> 90/10 -> 100% v2 with no failed request; when namerd dies the proxy keeps
 * routing on the last state.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request, upstream, type Upstream } from '../router/support.js';

const BIN = join(process.cwd(), 'bin', 'meshwork.js');
const dir = mkdtempSync(join(tmpdir(), 'meshwork-canary-'));
const procs: ChildProcess[] = [];
const ups: Upstream[] = [];

after(async () => {
  for (const p of procs) if (p.exitCode === null) p.kill('SIGKILL');
  for (const u of ups) await u.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Starts `meshwork <args>` and resolves with its stdout once every pattern has matched. */
function start(args: string[], patterns: RegExp[]): Promise<{ proc: ChildProcess; out: string }> {
  const proc = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  procs.push(proc);
  let out = '';
  let err = '';
  proc.stderr!.on('data', (c: Buffer) => (err += c.toString()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${args[0]} did not start: ${out} ${err}`)), 10_000);
    proc.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      if (patterns.every((p) => p.test(out))) {
        clearTimeout(timer);
        resolve({ proc, out });
      }
    });
    proc.once('exit', () => reject(new Error(`${args[0]} exited: ${err}`)));
  });
}

const portOf = (out: string, re: RegExp): number => Number(re.exec(out)![1]);

/** namerd's interface a router follows, and the router's interpreter block for it. */
const VIA = [
  { iface: 'io.l5d.mesh', interpreter: (port: number) => `    kind: io.l5d.mesh\n    dst: /$/inet/127.0.0.1/${port}\n    root: /default\n` },
  { iface: 'io.l5d.thriftNameInterpreter', interpreter: (port: number) => `    kind: io.l5d.namerd\n    dst: /$/inet/127.0.0.1/${port}\n    namespace: default\n` },
] as const;

for (const via of VIA) test(`canary by three dtab writes through namerd's ${via.iface}, then namerd down: proxies keep routing`, async () => {
  const v1 = await upstream((_req, res) => res.end('v1'));
  const v2 = await upstream((_req, res) => res.end('v2'));
  ups.push(v1, v2);
  const ep = (u: Upstream): string => `/$/inet/127.0.0.1/${u.port}`;
  writeFileSync(
    join(dir, 'namerd.yaml'),
    `admin:\n  port: 0\nstorage:\n  kind: io.l5d.inMemory\n  namespaces:\n    default: /svc/web => ${ep(v1)}\ninterfaces:\n- kind: io.l5d.httpController\n  port: 0\n- kind: ${via.iface}\n  port: 0\n`,
  );
  const ifaceRe = new RegExp(`${via.iface.replace(/\./g, '\\.')} listening on 127\\.0\\.0\\.1:(\\d+)`);
  const namerd = await start(['namerd', join(dir, 'namerd.yaml')], [/httpController listening on/, ifaceRe, /admin listening on/]);
  const api = portOf(namerd.out, /httpController listening on 127\.0\.0\.1:(\d+)/);
  const ifacePort = portOf(namerd.out, ifaceRe);
  writeFileSync(
    join(dir, 'linkerd.yaml'),
    `admin:\n  port: 0\nrouters:\n- protocol: http\n  label: web\n  interpreter:\n${via.interpreter(ifacePort)}  servers:\n  - port: 0\n`,
  );
  const linkerd = await start(['linkerd', join(dir, 'linkerd.yaml')], [/^listening web /m, /^admin listening on/m]);
  const port = portOf(linkerd.out, /^listening web 127\.0\.0\.1:(\d+)/m);

  const send = async (n: number): Promise<Record<string, number>> => {
    const counts: Record<string, number> = {};
    for (let i = 0; i < n; i++) {
      const r = await request(port, { headers: { host: 'web' } });
      const k = r.status === 200 ? r.body : `status ${r.status}`;
      counts[k] = (counts[k] ?? 0) + 1;
    }
    return counts;
  };
  const write = async (dtab: string): Promise<void> => {
    const r = await request(api, { method: 'PUT', path: '/api/1/dtabs/default', headers: { 'content-type': 'application/dtab' }, body: dtab });
    assert.equal(r.status, 204);
  };
  /** Sends until `ok(body)` holds, bounded in count: a write must reach the proxy within ~1 s. */
  const until = async (ok: (body: string) => boolean): Promise<void> => {
    const t0 = Date.now();
    for (let i = 0; i < 200; i++) {
      const r = await request(port, { headers: { host: 'web' } });
      assert.equal(r.status, 200, `no failed request during the switch (${r.body})`);
      if (ok(r.body)) return;
      await new Promise((res) => setTimeout(res, 10));
    }
    assert.fail(`the proxy did not follow the write within ${Date.now() - t0} ms`);
  };

  assert.deepEqual(await send(40), { v1: 40 });

  await write(`/svc/web => 9 * ${ep(v1)} & 1 * ${ep(v2)}`);
  await until((b) => b === 'v2');
  const split = await send(400);
  assert.equal((split['v1'] ?? 0) + (split['v2'] ?? 0), 400, JSON.stringify(split));
  // 10% of 400 is 40; a binomial's 4-sigma band is about 16..64.
  assert.ok(split['v2']! >= 16 && split['v2']! <= 64, `v2 got ${split['v2']} of 400`);

  await write(`/svc/web => ${ep(v2)}`);
  // The old split also answers v2 now and then: wait for 20 v2 answers in a row (bounded).
  let streak = 0;
  for (let i = 0; i < 300 && streak < 20; i++) {
    const r = await request(port, { headers: { host: 'web' } });
    assert.equal(r.status, 200, `no failed request during the switch (${r.body})`);
    streak = r.body === 'v2' ? streak + 1 : 0;
  }
  assert.equal(streak, 20, 'the proxy settled on v2');
  assert.deepEqual(await send(40), { v2: 40 });

  namerd.proc.kill('SIGKILL');
  await new Promise((res) => namerd.proc.once('exit', res));
  assert.deepEqual(await send(20), { v2: 20 });
});
