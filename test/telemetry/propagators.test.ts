import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ALL_PROPAGATOR, L5D_PROPAGATOR, W3C_PROPAGATOR, ZIPKIN_PROPAGATOR, propagatorFor } from '../../src/telemetry/propagators.js';
import { encodeL5dCtxTrace, type TraceContext } from '../../src/telemetry/trace-context.js';
import { boundLeaf, echo, inetAddr, okTree, request, startRouter, upstream } from '../router/support.js';

const ctx: TraceContext = { traceId: '463ac35c9f6413ad', spanId: 'a2fb4a1d1a96d312', parentId: '0020000000000001', sampled: true, debug: false };

function edits() {
  const out: Record<string, string | null> = {};
  return { out, h: { set: (n: string, v: string) => { out[n] = v; }, remove: (n: string) => { out[n] = null; } } };
}

test('tracePropagator kinds: Linkerd\'s default when absent, each kind by name, unknown refused', () => {
  assert.equal(propagatorFor(undefined), L5D_PROPAGATOR);
  assert.equal(propagatorFor({ kind: 'io.l5d.default' }), L5D_PROPAGATOR);
  assert.equal(propagatorFor({ kind: 'io.l5d.zipkin' }), ZIPKIN_PROPAGATOR);
  assert.equal(propagatorFor({ kind: 'meshwork.w3c' }), W3C_PROPAGATOR);
  assert.equal(propagatorFor({ kind: 'meshwork.all' }), ALL_PROPAGATOR);
  assert.throws(() => propagatorFor({ kind: 'io.l5d.b3' }), (e: unknown) => {
    const err = e as { code?: string; message: string; details?: Record<string, unknown> };
    assert.equal(err.code, 'MESH_ERR_TRACE_PROPAGATOR_UNKNOWN');
    assert.equal(err.message, 'tracePropagator.kind: unknown "io.l5d.b3"; allowed: io.l5d.default, io.l5d.zipkin, meshwork.w3c, meshwork.all');
    assert.deepEqual(err.details, { found: 'io.l5d.b3', allowed: ['io.l5d.default', 'io.l5d.zipkin', 'meshwork.w3c', 'meshwork.all'] });
    return true;
  });
});

test('each propagator reads only its own headers and writes only its own', () => {
  const b3 = { 'x-b3-traceid': ctx.traceId, 'x-b3-spanid': ctx.spanId, 'x-b3-parentspanid': ctx.parentId!, 'x-b3-sampled': '1' };
  const l5d = { 'l5d-ctx-trace': encodeL5dCtxTrace({ ...ctx, traceId: '1111111111111111' }) };
  const w3c = { traceparent: `00-${'0'.repeat(16)}2222222222222222-${ctx.spanId}-01` };
  const all = { ...b3, ...l5d, ...w3c };
  assert.equal(L5D_PROPAGATOR.extract(all)?.traceId, '1111111111111111');
  assert.equal(L5D_PROPAGATOR.extract({ ...b3, ...w3c }), undefined);
  assert.equal(ZIPKIN_PROPAGATOR.extract(all)?.traceId, ctx.traceId);
  assert.equal(ZIPKIN_PROPAGATOR.extract({ ...l5d, ...w3c }), undefined);
  assert.equal(W3C_PROPAGATOR.extract(all)?.traceId, '2222222222222222');
  assert.equal(W3C_PROPAGATOR.extract({ ...l5d, ...b3 }), undefined);
  assert.equal(ALL_PROPAGATOR.extract(all)?.traceId, '1111111111111111');
  assert.equal(ALL_PROPAGATOR.extract({ ...b3, ...w3c })?.traceId, ctx.traceId);

  const a = edits();
  L5D_PROPAGATOR.write(ctx, a.h);
  assert.deepEqual(Object.keys(a.out), ['l5d-ctx-trace']);
  const z = edits();
  ZIPKIN_PROPAGATOR.write(ctx, z.h);
  assert.deepEqual(z.out, { 'x-b3-traceid': ctx.traceId, 'x-b3-spanid': ctx.spanId, 'x-b3-parentspanid': ctx.parentId, 'x-b3-sampled': '1', 'x-b3-flags': null });
  const w = edits();
  W3C_PROPAGATOR.write(ctx, w.h);
  assert.deepEqual(w.out, { traceparent: `00-0000000000000000${ctx.traceId}-${ctx.spanId}-01` });
  const e = edits();
  ALL_PROPAGATOR.write(ctx, e.h);
  assert.deepEqual(Object.keys(e.out).sort(), ['l5d-ctx-trace', 'traceparent', 'x-b3-flags', 'x-b3-parentspanid', 'x-b3-sampled', 'x-b3-spanid', 'x-b3-traceid']);
});

test('a router without telemeters still propagates B3 when its tracePropagator is io.l5d.zipkin', async (t) => {
  const up = await upstream(echo);
  t.after(() => up.close());
  const r = await startRouter({ trees: { '/svc/dog': okTree(boundLeaf('/#/io.l5d.fs/dog', inetAddr(up.port))) }, config: { tracePropagator: { kind: 'io.l5d.zipkin' } } });
  t.after(() => r.close());
  const traceId = '0000000000abcdef';
  const rsp = await request(r.port, { headers: { host: 'dog', 'x-b3-traceid': traceId, 'x-b3-spanid': '00000000000000aa', 'x-b3-sampled': '0' } });
  assert.equal(rsp.status, 200);
  const h = (JSON.parse(rsp.body) as { headers: Record<string, string> }).headers;
  assert.equal(h['x-b3-traceid'], traceId);
  // The upstream's parent is this router's server span, itself a child of the caller's span.
  for (const k of ['x-b3-spanid', 'x-b3-parentspanid']) {
    assert.match(h[k]!, /^[0-9a-f]{16}$/, k);
    assert.notEqual(h[k], '00000000000000aa', k);
  }
  assert.notEqual(h['x-b3-spanid'], h['x-b3-parentspanid']);
  assert.equal(h['x-b3-sampled'], '0');
  assert.equal(h['l5d-reqid'], traceId);
  assert.equal(h['l5d-ctx-trace'], undefined);
  // The default router writes l5d-ctx-trace and leaves B3 alone.
  const d = await startRouter({ trees: { '/svc/dog': okTree(boundLeaf('/#/io.l5d.fs/dog', inetAddr(up.port))) } });
  t.after(() => d.close());
  const rd = await request(d.port, { headers: { host: 'dog', 'x-b3-traceid': traceId, 'x-b3-spanid': '00000000000000aa' } });
  const hd = (JSON.parse(rd.body) as { headers: Record<string, string> }).headers;
  assert.equal(hd['x-b3-spanid'], '00000000000000aa');
  assert.equal(typeof hd['l5d-ctx-trace'], 'string');
});
