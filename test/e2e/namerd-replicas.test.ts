/**
 * Two namerd replicas sharing one real etcd (io.l5d.etcd): a dtab written through replica A
 * must reach a `meshwork linkerd` that follows replica B over io.l5d.mesh within one second,
 * and B's own HTTP API (plain GET and `?watch=true`) must show it too. The path a write takes:
 * A's HTTP API -> etcd transaction -> B's etcd prefix watch -> B's namespace cache -> B's
 * gRPC bound-tree stream -> the proxy's binding -> the next request.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as http from 'node:http';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { startEtcd, type EtcdServer } from '../support/etcd.js';
import { spawnReady, type ReadyProcess } from '../support/process.js';

const BIN = join(process.cwd(), 'bin', 'meshwork.js');
/** What the brief promises: a write through one replica reaches the other's proxies within 1 s. */
const MAX_SWITCH_MS = 1000;
/** How often the proxy is asked while a switch is under way. */
const POLL_MS = 20;

const dir = mkdtempSync(join(tmpdir(), 'meshwork-replicas-'));
const procs: ReadyProcess[] = [];
const servers: http.Server[] = [];
const streams: WatchStream[] = [];
const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
let etcd: EtcdServer | undefined;

after(async () => {
  for (const s of streams) s.close();
  // linkerd first (it follows B), then the replicas, then the store they share.
  for (const p of procs.reverse()) await p.stop(2000);
  agent.destroy();
  for (const s of servers) {
    s.closeAllConnections();
    await new Promise<void>((r) => s.close(() => r()));
  }
  await etcd?.close();
  rmSync(dir, { recursive: true, force: true });
});

interface Reply {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
}

function call(port: number, opts: { method?: string; path?: string; headers?: http.OutgoingHttpHeaders; body?: string } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port, agent, method: opts.method ?? 'GET', path: opts.path ?? '/', headers: opts.headers, timeout: 5000 },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`request to 127.0.0.1:${port}${opts.path ?? '/'} timed out`)));
    req.on('error', reject);
    req.end(opts.body);
  });
}

/** An HTTP upstream that answers every request with its own name. */
async function namedUpstream(name: string): Promise<number> {
  const s = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(name) });
    res.end(name);
  });
  servers.push(s);
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  return (s.address() as AddressInfo).port;
}

/** A `?watch=true` response read line by line: each line is one state of the watched value. */
interface WatchStream {
  /** The next line not yet taken; rejects after `timeoutMs` with what was seen so far. */
  next(timeoutMs: number): Promise<string>;
  /** Lines that arrived and were not taken yet. */
  pending(): readonly string[];
  close(): void;
}

function watch(port: number, path: string, accept: string): Promise<WatchStream> {
  return new Promise((resolve, reject) => {
    const lines: string[] = [];
    let waiter: (() => void) | undefined;
    let ended: Error | undefined;
    let buf = '';
    // Its own connection: a streaming response must not hold a socket of the shared agent.
    // namerd sends a watch's headers with its first line: bound the wait for both.
    const opened = setTimeout(() => req.destroy(new Error(`watch ${path}: no response within 5000 ms`)), 5000);
    const req = http.get({ host: '127.0.0.1', port, path, headers: { accept }, agent: false }, (res) => {
      clearTimeout(opened);
      if (res.statusCode !== 200) {
        reject(new Error(`watch ${path}: status ${res.statusCode}`));
        res.resume();
        return;
      }
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        buf += c;
        let i: number;
        while ((i = buf.indexOf('\n')) >= 0) {
          lines.push(buf.slice(0, i));
          buf = buf.slice(i + 1);
        }
        waiter?.();
      });
      const end = (): void => {
        ended ??= new Error(`watch ${path} ended`);
        waiter?.();
      };
      res.on('end', end);
      res.on('close', end);
      resolve(stream);
    });
    req.on('error', (e) => {
      clearTimeout(opened);
      ended ??= e;
      waiter?.();
      reject(e);
    });
    const stream: WatchStream = {
      next: (timeoutMs) =>
        new Promise((res, rej) => {
          const take = (): boolean => {
            if (lines.length > 0) {
              res(lines.shift()!);
              return true;
            }
            if (ended) {
              rej(ended);
              return true;
            }
            return false;
          };
          if (take()) return;
          const timer = setTimeout(() => {
            waiter = undefined;
            rej(new Error(`watch ${path}: no new line within ${timeoutMs} ms`));
          }, timeoutMs);
          waiter = () => {
            if (take()) {
              clearTimeout(timer);
              waiter = undefined;
            }
          };
        }),
      pending: () => lines.slice(),
      close: () => req.destroy(),
    };
    streams.push(stream);
  });
}

const portOf = (out: string, re: RegExp): number => {
  const m = re.exec(out);
  assert.ok(m, `no match for ${re} in:\n${out}`);
  return Number(m[1]);
};

interface Replica {
  readonly api: number;
  readonly mesh: number;
}

async function startReplica(name: string, etcdPort: number, prefix: string): Promise<Replica> {
  const file = join(dir, `namerd-${name}.yaml`);
  writeFileSync(
    file,
    [
      'admin:',
      '  port: 0',
      'storage:',
      '  kind: io.l5d.etcd',
      '  host: 127.0.0.1',
      `  port: ${etcdPort}`,
      `  pathPrefix: ${prefix}`,
      'interfaces:',
      '- kind: io.l5d.httpController',
      '  port: 0',
      '- kind: io.l5d.mesh',
      '  port: 0',
      '',
    ].join('\n'),
  );
  // Admin is the last listener namerd prints: once it is there, every port is known.
  const p = await spawnReady(process.execPath, [BIN, 'namerd', file], /^namerd admin listening on /m, 20_000);
  procs.push(p);
  return {
    api: portOf(p.output(), /^namerd io\.l5d\.httpController listening on 127\.0\.0\.1:(\d+)$/m),
    mesh: portOf(p.output(), /^namerd io\.l5d\.mesh listening on 127\.0\.0\.1:(\d+)$/m),
  };
}

async function startLinkerd(meshPort: number): Promise<number> {
  const file = join(dir, 'linkerd.yaml');
  writeFileSync(
    file,
    [
      'admin:',
      '  port: 0',
      'routers:',
      '- protocol: http',
      '  label: web',
      '  interpreter:',
      '    kind: io.l5d.mesh',
      `    dst: /$/inet/127.0.0.1/${meshPort}`,
      '    root: /default',
      '  servers:',
      '  - port: 0',
      '',
    ].join('\n'),
  );
  const p = await spawnReady(process.execPath, [BIN, 'linkerd', file], /^admin listening on /m, 20_000);
  procs.push(p);
  return portOf(p.output(), /^listening web 127\.0\.0\.1:(\d+)$/m);
}

const inet = (port: number): string => `/$/inet/127.0.0.1/${port}`;
/** The dtab as namerd prints it (application/dtab): `prefix=>tree`, no spaces. */
const dtabFor = (port: number): string => `/svc/app=>${inet(port)}`;

/**
 * Asks the proxy (Host `app` -> /svc/app) every POLL_MS until it answers `want`; bounded in
 * count and time. Returns the last reply and the statuses seen on the way.
 */
async function until(proxy: number, want: string, boundMs: number): Promise<{ reply: Reply; seen: Record<string, number> }> {
  const seen: Record<string, number> = {};
  const t0 = performance.now();
  let reply: Reply | undefined;
  for (let i = 0; i < Math.ceil(boundMs / POLL_MS) + 1; i++) {
    const t = performance.now();
    reply = await call(proxy, { headers: { host: 'app' } });
    const k = reply.status === 200 ? reply.body : `status ${reply.status}`;
    seen[k] = (seen[k] ?? 0) + 1;
    if (reply.status === 200 && reply.body === want) return { reply, seen };
    if (performance.now() - t0 > boundMs) break;
    await new Promise((r) => setTimeout(r, Math.max(0, POLL_MS - (performance.now() - t))));
  }
  assert.fail(`the proxy did not answer ${want} within ${boundMs} ms; saw ${JSON.stringify(seen)}, last ${JSON.stringify(reply?.body)}`);
}

/** The dtab's ETag from a replica, after checking the body is `text` exactly. */
async function getDtab(api: number, text: string): Promise<string> {
  const r = await call(api, { path: '/api/1/dtabs/default', headers: { accept: 'application/dtab' } });
  assert.equal(r.status, 200, r.body);
  assert.equal(r.body, text + '\n');
  assert.equal(r.headers['content-type'], 'application/dtab');
  assert.equal(typeof r.headers['etag'], 'string');
  return r.headers['etag'] as string;
}

let shared: Promise<{ a: Replica; b: Replica; proxy: number; v1: number; v2: number }> | undefined;

/** One etcd, two replicas, one proxy following B; started once for both tests. */
function setup(): Promise<{ a: Replica; b: Replica; proxy: number; v1: number; v2: number }> {
  shared ??= (async () => {
    const [v1, v2, server] = await Promise.all([namedUpstream('v1'), namedUpstream('v2'), startEtcd()]);
    etcd = server;
    const prefix = `/dtabs-${randomBytes(6).toString('hex')}`;
    const [a, b] = await Promise.all([startReplica('a', server.port, prefix), startReplica('b', server.port, prefix)]);
    const proxy = await startLinkerd(b.mesh);
    return { a, b, proxy, v1, v2 };
  })();
  return shared;
}

test('a dtab written through replica A reaches a proxy following replica B within 1 s, three switches in a row', async (t) => {
  const { a, b, proxy, v1, v2 } = await setup();

  // Before the namespace exists neither replica has it.
  assert.equal((await call(a.api, { path: '/api/1/dtabs/default' })).status, 404);
  assert.equal((await call(b.api, { path: '/api/1/dtabs/default' })).status, 404);
  // The proxy already asks B for /svc/app in the missing namespace: nothing to route to yet.
  const early = await call(proxy, { headers: { host: 'app' } });
  assert.equal(early.status, 502, early.body);
  assert.match(String(early.headers['l5d-err']), /^No hosts are available for \/svc\/app\b/);

  const tCreate = performance.now();
  const created = await call(a.api, {
    method: 'POST',
    path: '/api/1/dtabs/default',
    headers: { 'content-type': 'application/dtab' },
    body: '/svc/app => ' + inet(v1),
  });
  assert.equal(created.status, 204, created.body);
  // The create is a switch too: from "no such namespace" to v1, under the same promise.
  const first = await until(proxy, 'v1', 3 * MAX_SWITCH_MS);
  const createMs = Math.round(performance.now() - tCreate);
  for (const k of Object.keys(first.seen)) assert.ok(k === 'v1' || k === 'status 502', `unexpected answer after the create: ${JSON.stringify(first.seen)}`);
  assert.ok(createMs < MAX_SWITCH_MS, `the create took ${createMs} ms to reach the proxy`);
  // A watch on B opens with the dtab created through A, then sees every switch below. (It is
  // opened only now: namerd sends no response head for a namespace that does not exist yet.)
  const watchB = await watch(b.api, '/api/1/dtabs/default?watch=true', 'application/dtab');
  assert.equal(await watchB.next(MAX_SWITCH_MS), dtabFor(v1));

  const latencies: number[] = [];
  for (const [want, port] of [
    ['v2', v2],
    ['v1', v1],
    ['v2', v2],
  ] as const) {
    const before = want === 'v2' ? dtabFor(v1) : dtabFor(v2);
    const etag = await getDtab(a.api, before);
    // Both replicas read one store: B reports the same version for the same dtab.
    assert.equal(await getDtab(b.api, before), etag);

    const t0 = performance.now();
    const put = await call(a.api, {
      method: 'PUT',
      path: '/api/1/dtabs/default',
      headers: { 'content-type': 'application/dtab', 'if-match': etag },
      body: `/svc/app => ${inet(port)}`,
    });
    assert.equal(put.status, 204, put.body);
    const { seen } = await until(proxy, want, 3 * MAX_SWITCH_MS);
    const ms = performance.now() - t0;
    latencies.push(Math.round(ms));
    // During a switch the proxy answers the old or the new version, never an error.
    for (const k of Object.keys(seen)) assert.ok(k === 'v1' || k === 'v2', `unexpected answer during the switch: ${JSON.stringify(seen)}`);
    assert.ok(ms < MAX_SWITCH_MS, `switch to ${want} took ${Math.round(ms)} ms`);

    // B's own API: the plain GET and the watch both show the new dtab, exactly.
    assert.equal(await watchB.next(MAX_SWITCH_MS), dtabFor(port));
    const newEtag = await getDtab(b.api, dtabFor(port));
    assert.notEqual(newEtag, etag);
    assert.equal(await getDtab(a.api, dtabFor(port)), newEtag);

    // The old version is stale on either replica: compare-and-set is cluster-wide.
    const stale = await call(b.api, {
      method: 'PUT',
      path: '/api/1/dtabs/default',
      headers: { 'content-type': 'application/dtab', 'if-match': etag },
      body: '/svc/app => /$/fail',
    });
    assert.equal(stale.status, 412, stale.body);
  }
  // The rejected writes changed nothing: the watch saw no other line, the proxy still answers v2.
  assert.deepEqual(watchB.pending(), []);
  assert.equal((await call(proxy, { headers: { host: 'app' } })).body, 'v2');
  t.diagnostic(`create latency A -> etcd -> B -> proxy (ms): ${createMs}`);
  t.diagnostic(`switch latencies A -> etcd -> B -> proxy (ms): ${latencies.join(', ')}`);
  assert.equal(latencies.length, 3);
});

test("each replica's HTTP watch sees a write made through the other, with the exact dtab", async (t) => {
  const { a, b, v1, v2 } = await setup();
  // The first test leaves `default` routing to v2 (this one also runs alone: it then creates it).
  const current = await call(a.api, { path: '/api/1/dtabs/default', headers: { accept: 'application/dtab' } });
  if (current.status === 404) {
    const c = await call(a.api, { method: 'POST', path: '/api/1/dtabs/default', headers: { 'content-type': 'application/dtab' }, body: dtabFor(v2) });
    assert.equal(c.status, 204, c.body);
  }
  const start = dtabFor(v2);
  const onA = await watch(a.api, '/api/1/dtabs/default?watch=true', 'application/dtab');
  const onB = await watch(b.api, '/api/1/dtabs/default?watch=true', 'application/dtab');
  const onBJson = await watch(b.api, '/api/1/dtabs/default?watch=true', 'application/json');
  // A watch opens with the current state.
  assert.equal(await onA.next(MAX_SWITCH_MS), start);
  assert.equal(await onB.next(MAX_SWITCH_MS), start);
  assert.equal(await onBJson.next(MAX_SWITCH_MS), JSON.stringify([{ prefix: '/svc/app', dst: inet(v2) }]));

  // Through A: a weighted split with an alternative, printed canonically by both replicas.
  const split = `/svc/app=>0.30*${inet(v1)} & 0.70*${inet(v2)} | /$/fail;/svc/other=>${inet(v1)}`;
  let t0 = performance.now();
  const w1 = await call(a.api, {
    method: 'PUT',
    path: '/api/1/dtabs/default',
    headers: { 'content-type': 'application/dtab' },
    body: `/svc/app => 0.3 * ${inet(v1)} & .7*${inet(v2)} | /$/fail ; /svc/other => ${inet(v1)}`,
  });
  assert.equal(w1.status, 204, w1.body);
  assert.equal(await onB.next(MAX_SWITCH_MS), split);
  const viaB = Math.round(performance.now() - t0);
  assert.equal(await onA.next(MAX_SWITCH_MS), split);
  assert.equal(
    await onBJson.next(MAX_SWITCH_MS),
    JSON.stringify([
      { prefix: '/svc/app', dst: `0.30*${inet(v1)} & 0.70*${inet(v2)} | /$/fail` },
      { prefix: '/svc/other', dst: inet(v1) },
    ]),
  );

  // Through B (JSON body this time): A's watch sees it.
  t0 = performance.now();
  const w2 = await call(b.api, {
    method: 'PUT',
    path: '/api/1/dtabs/default',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify([{ prefix: '/svc/app', dst: inet(v1) }]),
  });
  assert.equal(w2.status, 204, w2.body);
  assert.equal(await onA.next(MAX_SWITCH_MS), dtabFor(v1));
  const viaA = Math.round(performance.now() - t0);
  assert.equal(await onB.next(MAX_SWITCH_MS), dtabFor(v1));
  assert.equal(await onBJson.next(MAX_SWITCH_MS), JSON.stringify([{ prefix: '/svc/app', dst: inet(v1) }]));

  // One line per change, nothing else.
  assert.deepEqual([onA.pending(), onB.pending(), onBJson.pending()], [[], [], []]);
  t.diagnostic(`watch latencies (ms): A -> B ${viaB}, B -> A ${viaA}`);
});
