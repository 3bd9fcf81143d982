import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  childTraceId,
  decodeL5dCtxTrace,
  decodeTraceId,
  encodeL5dCtxTrace,
  encodeTraceId,
  extractContext,
  fillRandom,
  formatTraceparent,
  writeContext,
  newSpanId,
} from '../../src/telemetry/trace-context.js';
import { Tracer, type FinishedSpan } from '../../src/telemetry/tracing.js';
import { buildTelemetry } from '../../src/telemetry/telemeters.js';
import { MetricsRegistry } from '../../src/telemetry/metrics-registry.js';

/** Trace header edits onto a plain record (a removal deletes). */
function headerEdits(h: Record<string, string>) {
  return { set: (n: string, v: string) => { h[n] = v; }, remove: (n: string) => { delete h[n]; } };
}
import { RecentRequests } from '../../src/telemetry/recent-requests.js';
import { formatTraceLine } from '../../src/telemetry/tracelog.js';

/** A loopback collector that resolves once `want` POST bodies arrived. */
async function collector(want: number): Promise<{ server: Server; port: number; bodies: Promise<{ path: string; body: unknown }[]> }> {
  const got: { path: string; body: unknown }[] = [];
  let done!: (v: { path: string; body: unknown }[]) => void;
  const bodies = new Promise<{ path: string; body: unknown }[]>((r) => (done = r));
  const server = createServer((req: IncomingMessage, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      got.push({ path: `${req.method} ${req.url} ${req.headers['content-type']}`, body: JSON.parse(Buffer.concat(chunks).toString()) });
      res.writeHead(202).end();
      if (got.length === want) done(got);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, port: (server.address() as AddressInfo).port, bodies };
}

test('l5d-ctx-trace round-trips Finagle\'s 32 and 40 byte forms', () => {
  const ctx = { traceId: '463ac35c9f6413ad', spanId: 'a2fb4a1d1a96d312', parentId: '0020000000000001', sampled: true, debug: false };
  const b64 = encodeL5dCtxTrace(ctx);
  const bytes = Buffer.from(b64, 'base64');
  assert.equal(bytes.length, 32);
  assert.equal(bytes.toString('hex'), 'a2fb4a1d1a96d312' + '0020000000000001' + '463ac35c9f6413ad' + '0000000000000006');
  assert.deepEqual(decodeL5dCtxTrace(b64), ctx);
  assert.equal(encodeL5dCtxTrace({ ...ctx, spanId: ctx.spanId.toUpperCase() }), b64, 'upper-case hex ids encode the same bytes');
  const wide = { ...ctx, traceId: '48485a3953bb6124463ac35c9f6413ad', sampled: undefined, debug: true };
  const b = Buffer.from(encodeL5dCtxTrace(wide), 'base64');
  assert.equal(b.length, 40);
  assert.equal(b.readUInt32BE(28), 1);
  assert.deepEqual(decodeL5dCtxTrace(encodeL5dCtxTrace(wide)), wide);
  // a root span: parent = span on the wire, null when read back
  const root = { traceId: 'a2fb4a1d1a96d312', spanId: 'a2fb4a1d1a96d312', parentId: null, sampled: false, debug: false };
  assert.deepEqual(decodeL5dCtxTrace(encodeL5dCtxTrace(root)), root);
  assert.equal(decodeL5dCtxTrace('AAAA'), undefined);
});

test('B3 and traceparent are read; injection writes all three forms', () => {
  assert.deepEqual(
    extractContext({ 'x-b3-traceid': '463AC35C9F6413AD', 'x-b3-spanid': 'a2fb4a1d1a96d312', 'x-b3-parentspanid': '0020000000000001', 'x-b3-sampled': '1' }),
    { traceId: '463ac35c9f6413ad', spanId: 'a2fb4a1d1a96d312', parentId: '0020000000000001', sampled: true, debug: false },
  );
  assert.deepEqual(extractContext({ traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' }), {
    traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7', parentId: null, sampled: true, debug: false,
  });
  assert.equal(extractContext({ traceparent: '00-00000000000000000000000000000000-00f067aa0ba902b7-01' }), undefined);
  assert.equal(extractContext({ 'x-b3-traceid': 'zz', 'x-b3-spanid': 'a2fb4a1d1a96d312' }), undefined);
  const h: Record<string, string> = {};
  const ctx = { traceId: '463ac35c9f6413ad', spanId: 'a2fb4a1d1a96d312', parentId: '0020000000000001', sampled: false, debug: false };
  writeContext(ctx, headerEdits(h));
  assert.equal(h['x-b3-traceid'], '463ac35c9f6413ad');
  assert.equal(h['x-b3-spanid'], 'a2fb4a1d1a96d312');
  assert.equal(h['x-b3-parentspanid'], '0020000000000001');
  assert.equal(h['x-b3-sampled'], '0');
  assert.equal(h['traceparent'], '00-0000000000000000463ac35c9f6413ad-a2fb4a1d1a96d312-00');
  assert.deepEqual(decodeL5dCtxTrace(h['l5d-ctx-trace'] as string), ctx);
  assert.equal(formatTraceparent({ ...ctx, sampled: true }), '00-0000000000000000463ac35c9f6413ad-a2fb4a1d1a96d312-01');
});

test('server and client spans reach an in-test Zipkin and OTLP collector with the right parent ids', { timeout: 10_000 }, async (t) => {
  const zipkin = await collector(1);
  const otlp = await collector(1);
  t.after(() => {
    zipkin.server.close();
    otlp.server.close();
  });
  const tel = buildTelemetry(
    [
      { kind: 'io.l5d.zipkin', host: '127.0.0.1', port: zipkin.port, sampleRate: 1, flushIntervalMs: 60_000 },
      { kind: 'meshwork.otlp', host: '127.0.0.1', port: otlp.port, sampleRate: 1, flushIntervalMs: 60_000 },
    ],
    { metrics: new MetricsRegistry() },
  );
  assert.ok(tel.tracer);
  // The caller's span (B3) is the parent of our server span, which is the parent of the client span.
  const span = tel.tracer.startServerSpan(
    { 'x-b3-traceid': '463ac35c9f6413ad', 'x-b3-spanid': 'a2fb4a1d1a96d312', 'x-b3-sampled': '1' },
    'incoming', 'GET', '/users/1?x=y',
  );
  span.tag('l5d.dst.service', '/svc/users');
  const client = span.child('/#/io.l5d.fs/users');
  const out: Record<string, string> = {};
  client.injectInto(headerEdits(out));
  assert.equal(out['x-b3-parentspanid'], span.context.spanId);
  assert.equal(out['x-b3-spanid'], client.context.spanId);
  client.finish(200, { ip: '127.0.0.1', port: 8080 });
  span.finish(200);
  await tel.close(); // flushes both batchers
  const [z] = await zipkin.bodies;
  assert.equal(z!.path, 'POST /api/v2/spans application/json');
  const zs = z!.body as Record<string, unknown>[];
  assert.equal(zs.length, 2);
  assert.deepEqual(
    zs.map((s) => [s['kind'], s['traceId'], s['id'], s['parentId'], s['name']]),
    [
      ['CLIENT', '463ac35c9f6413ad', client.context.spanId, span.context.spanId, '/#/io.l5d.fs/users'],
      ['SERVER', '463ac35c9f6413ad', span.context.spanId, 'a2fb4a1d1a96d312', 'get /users/1'],
    ],
  );
  assert.deepEqual(zs[0]!['remoteEndpoint'], { ipv4: '127.0.0.1', port: 8080 });
  assert.deepEqual(zs[1]!['localEndpoint'], { serviceName: 'incoming' });
  assert.equal((zs[1]!['tags'] as Record<string, string>)['l5d.dst.service'], '/svc/users');

  const [o] = await otlp.bodies;
  assert.equal(o!.path, 'POST /v1/traces application/json');
  const rs = (o!.body as { resourceSpans: { resource: unknown; scopeSpans: { spans: Record<string, unknown>[] }[] }[] }).resourceSpans;
  assert.deepEqual(rs[0]!.resource, { attributes: [{ key: 'service.name', value: { stringValue: 'incoming' } }] });
  const os = rs[0]!.scopeSpans[0]!.spans;
  assert.deepEqual(
    os.map((s) => [s['kind'], s['traceId'], s['spanId'], s['parentSpanId']]),
    [
      [3, '0000000000000000463ac35c9f6413ad', client.context.spanId, span.context.spanId],
      [2, '0000000000000000463ac35c9f6413ad', span.context.spanId, 'a2fb4a1d1a96d312'],
    ],
  );
  assert.deepEqual(os[1]!['status'], { code: 1 });
});

test('sampling: caller decision wins; otherwise each sink keeps its own share', () => {
  const a: FinishedSpan[] = [];
  const b: FinishedSpan[] = [];
  let next = 0.3;
  const tracer = new Tracer([{ sink: { record: (s) => a.push(s) }, sampleRate: 0.5 }, { sink: { record: (s) => b.push(s) }, sampleRate: 0.1 }], () => next);
  assert.equal(tracer.sampleRate, 0.5);
  tracer.startServerSpan({}, 'r', 'GET', '/').finish(200); // draw 0.3: a only
  next = 0.7;
  const unsampled = tracer.startServerSpan({}, 'r', 'GET', '/'); // draw 0.7: nobody
  assert.equal(unsampled.sampled, false);
  unsampled.finish(200);
  tracer.startServerSpan({ 'x-b3-traceid': '463ac35c9f6413ad', 'x-b3-spanid': 'a2fb4a1d1a96d312', 'x-b3-sampled': '1' }, 'r', 'GET', '/').finish(200);
  tracer.startServerSpan({ 'x-b3-traceid': '463ac35c9f6413ad', 'x-b3-spanid': 'a2fb4a1d1a96d312', 'x-b3-sampled': '0' }, 'r', 'GET', '/').finish(200);
  assert.equal(a.length, 2);
  assert.equal(b.length, 1);
  const root = tracer.startServerSpan({}, 'r', 'GET', '/');
  assert.equal(root.context.parentId, null);
  assert.match(root.context.traceId, /^[0-9a-f]{16}$/);
});

test('no tracing telemeter means no tracer (one null check per request)', () => {
  const tel = buildTelemetry([{ kind: 'io.l5d.prometheus' }], { metrics: new MetricsRegistry() });
  assert.equal(tel.tracer, null);
  assert.deepEqual(tel.adminRoutes.map((r) => r.path), ['/admin/metrics/prometheus']);
});

test('recent requests keep the newest `capacity` with client and endpoint; tracelog formats a line', () => {
  const rr = new RecentRequests(2);
  const tracer = new Tracer([{ sink: rr, sampleRate: 1 }]);
  for (const p of ['/a', '/b', '/c']) {
    const s = tracer.startServerSpan({}, 'in', 'GET', p);
    s.tag('l5d.dst.service', `/svc${p}`);
    s.child(`/#/io.l5d.fs${p}`).finish(503, { ip: '127.0.0.1', port: 9 }, 'no endpoints');
    s.finish(503);
  }
  const list = rr.list();
  assert.deepEqual(
    list.map((r) => [r.router, r.method, r.path, r.logicalName, r.client, r.endpoint, r.status, r.error]),
    [
      ['in', 'GET', '/c', '/svc/c', '/#/io.l5d.fs/c', '127.0.0.1:9', 503, 'no endpoints'],
      ['in', 'GET', '/b', '/svc/b', '/#/io.l5d.fs/b', '127.0.0.1:9', 503, 'no endpoints'],
    ],
  );
  const line = formatTraceLine('INFO', {
    traceId: '463ac35c9f6413ad', spanId: 'a2fb4a1d1a96d312', parentId: null, kind: 'SERVER', name: 'GET /', service: 'in',
    startUs: 0, durationUs: 1500, status: 200, error: null, tags: {}, remote: null,
  });
  assert.equal(line, 'INFO tracelog in SERVER 463ac35c9f6413ad.a2fb4a1d1a96d312<:a2fb4a1d1a96d312 "GET /" 200 1500us');
});

test('the tracelog telemeter writes sampled spans through the context logger', () => {
  const lines: string[] = [];
  const tel = buildTelemetry([{ kind: 'io.l5d.tracelog', sampleRate: 1, level: 'TRACE' }], { metrics: new MetricsRegistry(), log: (l) => lines.push(l) });
  const span = tel.tracer!.startServerSpan({ 'x-b3-traceid': '463ac35c9f6413ad', 'x-b3-spanid': 'a2fb4a1d1a96d312', 'x-b3-sampled': '1' }, 'in', 'POST', '/x');
  span.finish(502, 'upstream reset');
  assert.equal(lines.length, 1);
  assert.match(lines[0]!, new RegExp(`^TRACE tracelog in SERVER 463ac35c9f6413ad\\.${span.context.spanId}<:a2fb4a1d1a96d312 "POST /x" 502 \\d+us error="upstream reset"$`));
});

test('l5d-sample overrides the caller\'s sampling decision', () => {
  const got: FinishedSpan[] = [];
  const tracer = new Tracer([{ sink: { record: (s) => got.push(s) }, sampleRate: 0 }], () => 0.5);
  const b3 = { 'x-b3-traceid': '463ac35c9f6413ad', 'x-b3-spanid': 'a2fb4a1d1a96d312', 'x-b3-sampled': '0' };
  const on = tracer.startServerSpan({ ...b3, 'l5d-sample': '1' }, 'r', 'GET', '/');
  assert.equal(on.sampled, true);
  on.finish(200);
  assert.equal(tracer.startServerSpan({ ...b3, 'x-b3-sampled': '1', 'l5d-sample': '0.25' }, 'r', 'GET', '/').sampled, false);
  assert.equal(tracer.startServerSpan({ ...b3, 'l5d-sample': 'lots' }, 'r', 'GET', '/').sampled, false);
  assert.equal(got.length, 1);
});

test('fillRandom covers every byte, including a tail shorter than four, and differs per call', () => {
  const pools = new Set<string>();
  for (let round = 0; round < 50; round++) {
    const a = Buffer.alloc(4096);
    fillRandom(a);
    pools.add(a.toString('hex'));
  }
  assert.equal(pools.size, 50);
  // An unwritten byte stays 0; written 50 times at random it is non-zero at least once.
  const tails = Array.from({ length: 50 }, () => {
    const b = Buffer.alloc(7);
    fillRandom(b);
    return b;
  });
  for (let i = 0; i < 7; i++) assert.ok(tails.some((b) => b[i] !== 0), `byte ${i} never written`);
  // A range: bytes 3..9 written (a word and a 2-byte tail), the others left alone.
  const ranged = Array.from({ length: 50 }, () => {
    const b = Buffer.alloc(12, 0xee);
    fillRandom(b, 3, 9);
    return b;
  });
  for (const i of [0, 1, 2, 9, 10, 11]) assert.ok(ranged.every((b) => b[i] === 0xee), `byte ${i} written`);
  for (let i = 3; i < 9; i++) assert.ok(ranged.some((b) => b[i] !== 0xee), `byte ${i} never written`);
  const ids = new Set(Array.from({ length: 2000 }, () => newSpanId()));
  assert.equal(ids.size, 2000);
  for (const id of ids) assert.match(id, /^[0-9a-f]{16}$/);
});

test('an unsampled span reads no clock and keeps no tags, yet its ids go downstream; a sampled one records its tags', () => {
  const got: FinishedSpan[] = [];
  let draw = 0.9;
  const tracer = new Tracer([{ sink: { record: (s) => got.push(s) }, sampleRate: 0.5 }], () => draw);
  const edits: [string, string | null][] = [];
  const head = { set: (n: string, v: string) => { edits.push([n, v]); }, remove: (n: string) => { edits.push([n, null]); } };

  const quiet = tracer.startServerSpan({}, 'rt', 'GET', '/a');
  assert.equal(quiet.sampled, false);
  assert.equal(quiet.startUs, 0);
  quiet.tag('l5d.dst.service', '/svc/a');
  const qc = quiet.child('/#/io.l5d.fs/a');
  qc.injectInto(head);
  assert.deepEqual(edits.map(([n]) => n), ['l5d-ctx-trace', 'x-b3-traceid', 'x-b3-spanid', 'x-b3-parentspanid', 'x-b3-sampled', 'x-b3-flags', 'traceparent']);
  assert.equal(edits[5]![1], null); // no debug flag: a caller's x-b3-flags is removed
  assert.deepEqual(decodeL5dCtxTrace(edits[0]![1]!), qc.context);
  assert.equal(edits[3]![1], quiet.context.spanId);
  qc.finish(200);
  quiet.finish(200);
  assert.equal(got.length, 0);

  draw = 0.1;
  const loud = tracer.startServerSpan({}, 'rt', 'GET', '/b');
  assert.equal(loud.sampled, true);
  assert.ok(loud.startUs > 0);
  loud.tag('l5d.dst.service', '/svc/b');
  const lc = loud.child('/#/io.l5d.fs/b');
  lc.tag('extra', 'x');
  lc.finish(200);
  loud.finish(200);
  assert.equal(got.length, 2);
  assert.equal(got[0]!.tags['extra'], 'x');
  assert.ok(got[0]!.startUs > 0);
  assert.equal(got[1]!.tags['l5d.dst.service'], '/svc/b');
});

test('RPC spans (thrift): named by the method, rpc tags, no HTTP tags, status 0; they continue a TraceId-bytes context', () => {
  const got: FinishedSpan[] = [];
  const tracer = new Tracer([{ sink: { record: (s) => got.push(s) }, sampleRate: 1 }]);
  const caller = { traceId: '463ac35c9f6413ad', spanId: 'a2fb4a1d1a96d312', parentId: null, sampled: true, debug: false };
  const bytes = encodeTraceId(caller);
  assert.equal(bytes.length, 32);
  assert.deepEqual(decodeTraceId(bytes), caller);
  const span = tracer.startRpcSpan(decodeTraceId(bytes), 'thr', 'thrift', 'Users:get');
  assert.equal(span.context.traceId, caller.traceId);
  assert.equal(span.context.parentId, caller.spanId);
  span.tag('l5d.dst.service', '/svc/Users');
  const c = span.child('/$/inet/127.0.0.1/9090');
  c.finish(0, { ip: '127.0.0.1', port: 9090 }, 'could not connect');
  span.finish(0, 'could not connect');
  assert.deepEqual(got.map((s) => [s.kind, s.name, s.status, s.error, s.tags]), [
    ['CLIENT', '/$/inet/127.0.0.1/9090', 0, 'could not connect', { client: '/$/inet/127.0.0.1/9090' }],
    ['SERVER', 'Users:get', 0, 'could not connect', { 'l5d.dst.service': '/svc/Users', 'rpc.system': 'thrift', 'rpc.method': 'Users:get' }],
  ]);
  // A 128-bit trace id is 40 bytes; a router without a tracer forwards a child: new span id,
  // the caller's span as parent, its trace and flags.
  const wide = encodeTraceId({ ...caller, traceId: '11223344556677ff' + caller.traceId });
  assert.equal(wide.length, 40);
  const child = childTraceId(wide);
  assert.notDeepEqual(child.subarray(0, 8), wide.subarray(0, 8));
  assert.deepEqual(child.subarray(8, 16), wide.subarray(0, 8));
  assert.deepEqual(child.subarray(16), wide.subarray(16));
  assert.deepEqual(decodeTraceId(child), { traceId: '11223344556677ff' + caller.traceId, spanId: child.toString('hex', 0, 8), parentId: caller.spanId, sampled: true, debug: false });
});
