/**
 * The mux router (`protocol: mux`, Linkerd's Mux.Router) through a real `meshwork linkerd`,
 * with mux upstreams and callers built on src/protocol/mux:
 * - a Tdispatch's destination names the request (`dstPrefix ++ dst`), the upstream sees the
 *   bound name's residual path as its destination (MuxEncodeResidual), the caller's dtab and
 *   contexts; the Tdispatch's dtab routes the request;
 * - without a tracer a caller's trace context goes on as a child of its span;
 * - failures answer an Rdispatch error with the reason (no hosts, a destination that is not a
 *   path, an upstream that is gone); an upstream's own error goes back as it is;
 * - the caller's Finagle Deadline context bounds the request and goes on, tightened by the
 *   service's totalTimeoutMs; a deadline already passed is refused before any upstream sees it;
 * - a nack is requeued to another endpoint; a nack from the only endpoint goes back as a nack;
 *   `maxConcurrentRequests` over its limit is nacked;
 * - a caller's discard reaches the upstream; a peer that does not speak mux is disconnected;
 * - server, service and client metrics under Linkerd's names;
 * - with a Zipkin telemeter: the caller's trace is continued by a server span, each attempt is
 *   a client span, and the upstream gets the client span's ids;
 * - fuzz: seeded sessions of random, valid and mutated frames (garbage dsts, dtabs and
 *   contexts); every connection is closed by the router once the client is quiet and
 *   half-closed, what came back decodes as mux and answers tags the client used, an unmutated
 *   session gets exactly one reply per Tdispatch, and the router still routes afterwards. The seed
 *   is printed; MESHWORK_FUZZ_SEED replays a run.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as http from 'node:http';
import * as net from 'node:net';
import type { AddressInfo } from 'node:net';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startLinker, linkerdYaml, e2eScratch } from '../support/linker.js';
import { REFUSED_PORT } from '../support/process.js';
import { DEADLINE_CONTEXT_KEY, FrameDecoder, MuxClient, MuxError, MuxServer, TRACE_CONTEXT_KEY, decodeMessage, deadlineOf, encodeDeadline, encodeMessage, type MuxDispatchInfo } from '../../src/protocol/mux/index.js';
import { FuzzGen, seededRandom } from '../support/prng.js';
import { decodeTraceId, encodeTraceId } from '../../src/telemetry/trace-context.js';

const { dir, procs } = e2eScratch('mw-mux-');

/** What an upstream saw of one request. */
interface Seen {
  readonly server: string;
  readonly dst: string;
  readonly dtab: [string, string][];
  readonly contexts: Record<string, string>;
  readonly body: string;
}

interface MuxUpstream {
  readonly name: string;
  readonly port: number;
  readonly seen: Seen[];
  /** Signals of requests whose caller discarded them (aborted), in order. */
  readonly aborted: string[];
  close(): Promise<void>;
}

/**
 * A mux server that answers each Tdispatch with JSON of what it saw; a body `boom` fails with
 * an application error, `slow` waits 2 s (or until discarded); `nack` answers every request
 * with a nack.
 */
async function muxUpstream(name: string, opts: { nack?: boolean } = {}): Promise<MuxUpstream> {
  const seen: Seen[] = [];
  const aborted: string[] = [];
  const server = new MuxServer({
    ip: '127.0.0.1',
    port: 0,
    downgrade: false,
    handler: async (body: Buffer, signal: AbortSignal, info?: MuxDispatchInfo): Promise<Buffer> => {
      const s: Seen = {
        server: name,
        dst: info?.dst ?? '',
        dtab: (info?.dtab ?? []).map(([a, b]) => [a, b]),
        contexts: Object.fromEntries((info?.contexts ?? []).map(([k, v]) => [k.toString('latin1'), v.toString('hex')])),
        body: body.toString(),
      };
      seen.push(s);
      if (opts.nack === true) throw new MuxError('MESH_ERR_MUX_NACK', 'busy', { rejected: true, retryable: true });
      if (s.body === 'boom') throw new Error(`boom from ${name}`);
      if (s.body === 'slow') {
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, 2000);
          signal.addEventListener('abort', () => {
            clearTimeout(t);
            aborted.push(s.body);
            resolve();
          }, { once: true });
        });
      }
      return Buffer.from(JSON.stringify(s));
    },
  });
  const a = await server.listen();
  return { name, port: a.port, seen, aborted, close: () => server.close() };
}

const ups: MuxUpstream[] = [];
let users: MuxUpstream;
let web: MuxUpstream;
let nacker: MuxUpstream;
let routerPort = 0;
let limitedPort = 0;
let admin = 0;
let deadPort = 0;
const callers: MuxClient[] = [];

function caller(port = routerPort): MuxClient {
  const c = new MuxClient({ host: '127.0.0.1', port, pingIntervalMs: 0 });
  callers.push(c);
  return c;
}

before(async () => {
  users = await muxUpstream('users');
  web = await muxUpstream('web');
  nacker = await muxUpstream('nacker', { nack: true });
  ups.push(users, web, nacker);
  deadPort = REFUSED_PORT;
  const disco = join(dir, 'disco');
  const { mkdirSync } = await import('node:fs');
  mkdirSync(disco);
  // Two endpoints for /svc/pair: one that nacks everything, one that answers.
  writeFileSync(join(disco, 'pair'), `127.0.0.1 ${nacker.port}\n127.0.0.1 ${web.port}\n`);
  const inet = (port: number): string => `/$/inet/127.0.0.1/${port}`;
  const file = linkerdYaml(`
admin:
  port: 0
namers:
- kind: io.l5d.fs
  rootDir: ${disco}
routers:
- protocol: mux
  label: mux
  dtab: |
    /svc/users => ${inet(users.port)};
    /svc/web => ${inet(web.port)};
    /svc/gone => ${inet(deadPort)};
    /svc/nacker => ${inet(nacker.port)};
    /svc/pair => /#/io.l5d.fs/pair;
    /svc/bounded => ${inet(web.port)};
  service:
    kind: io.l5d.static
    configs:
    - prefix: /svc/bounded
      totalTimeoutMs: 1000
  servers:
  - port: 0
  - port: 0
    maxConcurrentRequests: 1
`);
  const l = await startLinker(file, 'mux');
  procs.push(l.proc);
  routerPort = l.port;
  admin = l.admin;
  const ports = [...l.proc.output().matchAll(/^listening mux 127\.0\.0\.1:(\d+)$/gm)].map((m) => Number(m[1]));
  assert.equal(ports.length, 2, l.proc.output());
  limitedPort = ports[1]!;
});

after(async () => {
  for (const c of callers) c.close();
  for (const u of ups) await u.close();
});

async function call(c: MuxClient, dst: string, body = 'hi', fields: { dtab?: [string, string][]; contexts?: [Buffer, Buffer][] } = {}): Promise<Seen> {
  const reply = await c.dispatch(Buffer.from(body), AbortSignal.timeout(5000), { dst, dtab: fields.dtab ?? [], contexts: fields.contexts ?? [] });
  return JSON.parse(reply.toString()) as Seen;
}

async function failure(p: Promise<unknown>): Promise<MuxError> {
  const e = await p.then(
    () => assert.fail('the call succeeded'),
    (err: unknown) => err,
  );
  assert.ok(e instanceof MuxError, String(e));
  return e;
}

test('mux: the destination names the request; the upstream sees the residual path, the dtab and the contexts', async () => {
  const c = caller();
  const a = await call(c, '/users/get/42', 'one');
  assert.deepEqual([a.server, a.dst, a.body], ['users', '/get/42', 'one']);
  const b = await call(c, '/web', 'two');
  assert.deepEqual([b.server, b.dst, b.body], ['web', '', 'two']);
  // The Tdispatch's dtab is the request's local dtab: it routes, and goes on upstream.
  const d = await call(c, '/users/x', 'three', { dtab: [['/svc/users', '/svc/web']] });
  assert.deepEqual([d.server, d.dst, d.dtab], ['web', '/x', [['/svc/users', '/svc/web']]]);
  // Contexts pass through untouched.
  const ctx = await call(c, '/web', 'four', { contexts: [[Buffer.from('com.example.Tenant'), Buffer.from('acme')]] });
  assert.equal(ctx.contexts['com.example.Tenant'], Buffer.from('acme').toString('hex'));
  // Many calls at once on one session.
  const many = await Promise.all(Array.from({ length: 50 }, (_, i) => call(c, i % 2 === 0 ? '/users/n' : '/web/n', `m${i}`)));
  many.forEach((s, i) => assert.deepEqual([s.server, s.body], [i % 2 === 0 ? 'users' : 'web', `m${i}`]));
});

test('mux without a tracer: the caller\'s trace context goes on as a child of its span', async () => {
  const c = caller();
  const mine = { traceId: '0123456789abcdef', spanId: 'aaaaaaaaaaaaaaaa', parentId: 'bbbbbbbbbbbbbbbb', sampled: true, debug: false };
  const sent = encodeTraceId(mine);
  const s = await call(c, '/web', 'traced', { contexts: [[TRACE_CONTEXT_KEY, sent]] });
  const got = decodeTraceId(Buffer.from(s.contexts[TRACE_CONTEXT_KEY.toString('latin1')]!, 'hex'));
  assert.ok(got !== undefined);
  assert.equal(got.traceId, mine.traceId);
  assert.equal(got.parentId, mine.spanId);
  assert.notEqual(got.spanId, mine.spanId);
});

test('mux: failures answer an Rdispatch error with the reason; the session stays usable', async () => {
  const c = caller();
  const none = await failure(call(c, '/nothing'));
  assert.equal(none.code, 'MESH_ERR_MUX_REMOTE');
  assert.match(none.message, /\/svc\/nothing/);
  const bad = await failure(call(c, 'not-a-path'));
  assert.equal(bad.code, 'MESH_ERR_MUX_REMOTE');
  assert.match(bad.message, /not a path/);
  const gone = await failure(call(c, '/gone'));
  assert.equal(gone.code, 'MESH_ERR_MUX_REMOTE');
  assert.match(gone.message, new RegExp(`127\\.0\\.0\\.1:${deadPort}(?!\\d)`));
  const boom = await failure(call(c, '/users', 'boom'));
  assert.equal(boom.code, 'MESH_ERR_MUX_REMOTE');
  assert.equal(boom.message, 'boom from users');
  assert.equal((await call(c, '/users', 'after')).body, 'after');
});

test("mux: the caller's Deadline context bounds the request and goes on, tightened by totalTimeoutMs", async () => {
  const c = caller();
  const ns = (ms: number): bigint => BigInt(ms) * 1_000_000n;
  const deadline = (inMs: number): [Buffer, Buffer] => [DEADLINE_CONTEXT_KEY, encodeDeadline(ns(Date.now()), ns(Date.now() + inMs))];
  const seenDeadline = (s: Seen): bigint | undefined => deadlineOf([[DEADLINE_CONTEXT_KEY, Buffer.from(s.contexts[DEADLINE_CONTEXT_KEY.toString('latin1')] ?? '', 'hex')]])?.deadlineNs;
  // A far deadline without a router timeout goes on as it came; so does one too far away for a
  // timer (30 days: armed, Node would fire it after 1 ms).
  const far = deadline(60_000);
  const a = await call(c, '/web', 'far', { contexts: [far] });
  assert.equal(seenDeadline(a), far[1].readBigInt64BE(8));
  const month = deadline(30 * 24 * 3600 * 1000);
  const m = await call(c, '/web', 'slow', { contexts: [month] });
  assert.deepEqual([m.body, seenDeadline(m)], ['slow', month[1].readBigInt64BE(8)]);
  // /svc/bounded has totalTimeoutMs 1000: the upstream sees the tighter deadline.
  const t0 = Date.now();
  const b = await call(c, '/bounded', 'tight', { contexts: [deadline(60_000)] });
  const passed = Number(seenDeadline(b)! / 1_000_000n);
  assert.ok(passed >= t0 + 900 && passed <= Date.now() + 1000, `passed on ${passed - t0} ms after the call`);
  // A near deadline cuts a slow request short, and the upstream's request is discarded.
  const before = web.aborted.length;
  const started = Date.now();
  const slow = await failure(call(c, '/web', 'slow', { contexts: [deadline(300)] }));
  assert.equal(slow.code, 'MESH_ERR_MUX_REMOTE');
  assert.match(slow.message, /caller's deadline/);
  assert.ok(Date.now() - started < 1500, `answered after ${Date.now() - started} ms`);
  for (let i = 0; i < 100 && web.aborted.length === before; i++) await new Promise((r) => setTimeout(r, 20));
  assert.equal(web.aborted.length, before + 1);
  // A deadline already passed: refused before any upstream sees the request.
  const seenBefore = web.seen.length;
  const late = await failure(call(c, '/web', 'late', { contexts: [deadline(-1000)] }));
  assert.match(late.message, /deadline passed/);
  assert.equal(web.seen.length, seenBefore);
});

test('mux: a nack is requeued to another endpoint; the only endpoint\'s nack goes back as a nack', async () => {
  const c = caller();
  const before = nacker.seen.length;
  for (let i = 0; i < 20; i++) assert.equal((await call(c, '/pair', `p${i}`)).server, 'web');
  assert.ok(nacker.seen.length > before, 'the nacking endpoint was never tried: the test shows nothing');
  const n = await failure(call(c, '/nacker'));
  assert.equal(n.code, 'MESH_ERR_MUX_NACK');
});

test('mux: maxConcurrentRequests over its limit is nacked; a discarded request is discarded upstream', async () => {
  const c = caller(limitedPort);
  const ac = new AbortController();
  const slow = c.dispatch(Buffer.from('slow'), ac.signal, { dst: '/users', dtab: [], contexts: [] });
  slow.catch(() => undefined);
  // Wait until the slow request is at the upstream (bounded: 100 tries, 20 ms apart).
  for (let i = 0; i < 100 && !users.seen.some((s) => s.body === 'slow'); i++) await new Promise((r) => setTimeout(r, 20));
  assert.ok(users.seen.some((s) => s.body === 'slow'));
  const over = await failure(call(c, '/web'));
  assert.equal(over.code, 'MESH_ERR_MUX_NACK');
  ac.abort(new Error('not wanted'));
  await assert.rejects(slow);
  for (let i = 0; i < 100 && users.aborted.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
  assert.deepEqual(users.aborted, ['slow']);
  // The slot is free again.
  assert.equal((await call(c, '/web', 'again')).body, 'again');
});

test('mux: a peer that does not speak mux is disconnected; the router goes on', async () => {
  const sock = net.connect(routerPort, '127.0.0.1');
  sock.on('error', () => undefined);
  await new Promise<void>((r) => sock.once('connect', () => r()));
  sock.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('not closed within 5 s')), 5000);
    sock.once('close', () => {
      clearTimeout(t);
      resolve();
    });
  });
  assert.equal((await call(caller(), '/web', 'still')).body, 'still');
});

test('mux: server, service and client metrics under Linkerd names', async () => {
  await call(caller(), '/users/m', 'metrics');
  const m = (await (await fetch(`http://127.0.0.1:${admin}/admin/metrics.json`)).json()) as Record<string, number>;
  const n = (k: string): number => {
    assert.equal(typeof m[k], 'number', `${k} missing; have ${Object.keys(m).filter((x) => x.startsWith('rt/mux/')).join(', ')}`);
    return m[k]!;
  };
  assert.ok(n(`rt/mux/server/127.0.0.1/${routerPort}/requests`) > 0);
  assert.ok(n(`rt/mux/server/127.0.0.1/${routerPort}/failures`) > 0);
  assert.ok(n('rt/mux/service/svc/users/m/requests') >= 1);
  assert.ok(n(`rt/mux/client/$/inet/127.0.0.1/${users.port}/requests`) > 0);
  assert.ok(n(`rt/mux/client/$/inet/127.0.0.1/${users.port}/connections`) >= 1);
});

test('mux with a tracer: the caller\'s trace is continued; the upstream gets the client span\'s ids', async () => {
  const spans: (Record<string, unknown> & { tags: Record<string, string> })[] = [];
  const collector = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      if (req.method === 'POST' && req.url === '/api/v2/spans') spans.push(...(JSON.parse(body) as typeof spans));
      res.writeHead(202).end();
    });
  });
  await new Promise<void>((r) => collector.listen(0, '127.0.0.1', () => r()));
  try {
    const file = linkerdYaml(`
admin:
  port: 0
telemetry:
- {kind: io.l5d.zipkin, host: 127.0.0.1, port: ${(collector.address() as AddressInfo).port}, sampleRate: 1.0, flushIntervalMs: 20}
routers:
- protocol: mux
  label: traced
  dtab: /svc/web => /$/inet/127.0.0.1/${web.port}
  servers:
  - port: 0
`);
    const l = await startLinker(file, 'traced');
    procs.push(l.proc);
    const mine = { traceId: '00000000000000aa', spanId: '00000000000000bb', parentId: null, sampled: true, debug: false };
    const s = await call(caller(l.port), '/web/x', 'traced', { contexts: [[TRACE_CONTEXT_KEY, encodeTraceId(mine)]] });
    const up = decodeTraceId(Buffer.from(s.contexts[TRACE_CONTEXT_KEY.toString('latin1')]!, 'hex'))!;
    // Bounded wait for both spans: 250 tries, 20 ms apart.
    let server: (typeof spans)[number] | undefined;
    let client: (typeof spans)[number] | undefined;
    for (let i = 0; i < 250 && (server === undefined || client === undefined); i++) {
      server = spans.find((x) => x['kind'] === 'SERVER' && x['traceId'] === mine.traceId);
      client = spans.find((x) => x['kind'] === 'CLIENT' && x['traceId'] === mine.traceId);
      if (server === undefined || client === undefined) await new Promise((r) => setTimeout(r, 20));
    }
    assert.ok(server !== undefined && client !== undefined, JSON.stringify(spans));
    assert.equal(server['parentId'], mine.spanId);
    assert.equal(server.tags['l5d.dst.service'], '/svc/web/x');
    assert.equal(server.tags['rpc.system'], 'mux');
    assert.equal(client['parentId'], server['id']);
    assert.deepEqual(client['remoteEndpoint'], { ipv4: '127.0.0.1', port: web.port });
    // What the upstream saw is the client span.
    assert.deepEqual([up.traceId, up.spanId, up.parentId], [mine.traceId, client['id'], server['id']]);
  } finally {
    await new Promise<void>((r) => collector.close(() => r()));
  }
});

const FUZZ_DSTS = ['', '/', '/users', '/users/a/b', '/web', '/nothing', '/gone', '/nacker', 'not a path', '/a b', '/' + 'd'.repeat(1000), '/svc/%zz', '/#/x'];
const FUZZ_DTAB = ['/svc/users', '/svc/web', '/svc/nothing', 'not a path', '', '!', '/$/inet/127.0.0.1/1', '=>', '/\u00e9'];
const FUZZ_KEYS = ['com.twitter.finagle.Deadline', 'com.twitter.finagle.tracing.TraceContext', 'com.twitter.finagle.Retries', 'x'];

/** One fuzz session: its bytes, and the Tdispatch tags it must get one reply each for (when unmutated). */
function fuzzSession(g: FuzzGen): { bytes: Buffer; tags: number[]; exact: boolean } {
  const parts: Buffer[] = [];
  if (g.chance(0.6)) {
    parts.push(encodeMessage({ kind: 'Rerr', tag: 1, message: 'tinit check' }), encodeMessage({ kind: 'Tinit', tag: 1, version: 1, headers: [] }));
  }
  const tags: number[] = [];
  let tag = 2 + g.int(50);
  for (let k = 1 + g.int(4); k > 0; k--) {
    const contexts: [Buffer, Buffer][] = Array.from({ length: g.int(3) }, () => [Buffer.from(g.pick(FUZZ_KEYS)), g.bytes(g.pick([0, 8, 16, 32, 40, 3]))]);
    const dtab: [string, string][] = Array.from({ length: g.chance(0.6) ? 0 : 1 + g.int(2) }, () => [g.pick(FUZZ_DTAB), g.pick(FUZZ_DTAB)]);
    // A body `slow` would hold the case past its quiet time; `boom` is an upstream error.
    const body = g.chance(0.1) ? Buffer.from('boom') : g.bytes(g.int(64));
    parts.push(encodeMessage({ kind: 'Tdispatch', tag, contexts, dst: g.pick(FUZZ_DSTS), dtab, body }));
    tags.push(tag);
    if (g.chance(0.2)) parts.push(encodeMessage({ kind: 'Tping', tag: tag + 1000 }));
    tag += 1 + g.int(3);
  }
  const bytes = Buffer.concat(parts);
  const r = g.rnd();
  if (r < 0.1) return { bytes: g.bytes(g.int(200)), tags: [], exact: false };
  if (r < 0.6) return { bytes: g.mutate(bytes), tags, exact: false };
  return { bytes, tags, exact: true };
}

/** Sends one case on its own connection; resolves with what came back once the router closed it. */
function fuzzCase(port: number, bytes: Buffer): Promise<{ frames: Buffer[]; closed: boolean; bad?: string }> {
  return new Promise((resolve) => {
    const sock = net.connect(port, '127.0.0.1');
    const dec = new FrameDecoder(1 << 24);
    const frames: Buffer[] = [];
    let bad: string | undefined;
    let quiet: NodeJS.Timeout | undefined;
    const arm = (): void => {
      if (quiet !== undefined) clearTimeout(quiet);
      // Quiet for 300 ms: half-close; the router must then close the connection.
      quiet = setTimeout(() => sock.end(), 300);
    };
    const limit = setTimeout(() => {
      sock.destroy();
      resolve({ frames, closed: false, ...(bad !== undefined ? { bad } : {}) });
    }, 5000);
    sock.on('connect', () => {
      sock.write(bytes);
      arm();
    });
    sock.on('data', (c: Buffer) => {
      arm();
      try {
        frames.push(...dec.push(c));
      } catch (e) {
        bad ??= `undecodable frames from the router: ${(e as Error).message}`;
      }
    });
    sock.on('error', () => undefined);
    sock.on('close', () => {
      clearTimeout(limit);
      if (quiet !== undefined) clearTimeout(quiet);
      resolve({ frames, closed: true, ...(bad !== undefined ? { bad } : {}) });
    });
  });
}

test('mux fuzz: random and mutated sessions are answered sanely, connections closed, the router stays up', { timeout: 60_000 }, async (t) => {
  const seed = (process.env['MESHWORK_FUZZ_SEED'] ?? '') !== '' ? Number(process.env['MESHWORK_FUZZ_SEED']) : Math.floor(Math.random() * 2 ** 31);
  t.diagnostic(`fuzz seed ${seed} (replay: MESHWORK_FUZZ_SEED=${seed})`);
  const g = new FuzzGen(seededRandom(seed));
  const cases = Array.from({ length: 300 }, () => fuzzSession(g));
  const problems: string[] = [];
  let exact = 0;
  // 300 cases, 32 at a time.
  for (let i = 0; i < cases.length; i += 32) {
    const batch = cases.slice(i, i + 32);
    const results = await Promise.all(batch.map((c) => fuzzCase(routerPort, c.bytes)));
    results.forEach((r, j) => {
      const c = batch[j]!;
      const n = i + j;
      if (!r.closed) problems.push(`case ${n}: the connection was not closed within 5 s`);
      if (r.bad !== undefined) problems.push(`case ${n}: ${r.bad}`);
      const replies = new Map<number, number>();
      for (const f of r.frames) {
        let m;
        try {
          m = decodeMessage(f);
        } catch (e) {
          problems.push(`case ${n}: a frame that does not decode: ${(e as Error).message}`);
          continue;
        }
        if (m.kind === 'RdispatchOk' || m.kind === 'RdispatchError' || m.kind === 'RdispatchNack') replies.set(m.tag, (replies.get(m.tag) ?? 0) + 1);
      }
      for (const tag of replies.keys()) if (!c.tags.includes(tag) && c.exact) problems.push(`case ${n}: a reply to tag ${tag}, which it never used`);
      if (c.exact) {
        exact++;
        for (const tag of c.tags) if (replies.get(tag) !== 1) problems.push(`case ${n}: tag ${tag} got ${replies.get(tag) ?? 0} replies`);
      }
    });
  }
  assert.deepEqual(problems.slice(0, 10), [], `seed ${seed}`);
  assert.ok(exact > 50, `only ${exact} unmutated cases: the exact check shows little`);
  // Still routing, on a fresh session.
  assert.equal((await call(caller(), '/web', 'after fuzz')).body, 'after fuzz');
});
