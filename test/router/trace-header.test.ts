import { test } from 'node:test';
import assert from 'node:assert/strict';
import { childTrace, decodeTrace, encodeTrace, forwardTrace } from '../../src/router/headers.js';

// Finagle's l5d-ctx-trace: base64 of span id, parent id, trace id and flags, 8 bytes each, big-endian.
const bytes = (...hex: string[]): string => Buffer.from(hex.join(''), 'hex').toString('base64');

test('l5d-ctx-trace encodes span, parent, trace and flags as Finagle lays them out', () => {
  const t = { spanId: '0102030405060708', parentId: '1112131415161718', traceId: 'a1a2a3a4a5a6a7a8', flags: 6n };
  const v = encodeTrace(t);
  assert.equal(v, bytes(t.spanId, t.parentId, t.traceId, '0000000000000006'));
  assert.deepEqual(decodeTrace(v), t);
  const zero = { ...t, flags: 0n };
  assert.equal(encodeTrace(zero), bytes(t.spanId, t.parentId, t.traceId, '0000000000000000'));
  // The scratch bytes of one call do not leak into the next (flags cleared).
  assert.deepEqual(decodeTrace(encodeTrace(zero)), zero);
  const big = { ...t, flags: 0xfedcba9876543210n };
  assert.deepEqual(decodeTrace(encodeTrace(big)), big);
});

test('a child trace keeps the trace id, takes the parent span as parent and a new span id', () => {
  const parent = { spanId: '0102030405060708', parentId: '1112131415161718', traceId: 'a1a2a3a4a5a6a7a8', flags: 0n };
  const c = decodeTrace(encodeTrace(childTrace(parent, undefined)))!;
  assert.equal(c.traceId, parent.traceId);
  assert.equal(c.parentId, parent.spanId);
  assert.match(c.spanId, /^[0-9a-f]{16}$/);
  assert.notEqual(c.spanId, parent.spanId);
  // l5d-sample 1 marks it sampled (bits: sampling known 2, sampled 4); 0 unsampled.
  assert.equal(childTrace(parent, 1).flags, 6n);
  assert.equal(childTrace(parent, 0).flags, 2n);
  const root = childTrace(undefined, undefined);
  assert.equal(root.traceId, root.spanId);
  assert.equal(decodeTrace(encodeTrace(root))!.traceId, root.traceId);
  assert.equal(decodeTrace('not base64 of 32 bytes'), undefined);
});

test('forwardTrace builds what encodeTrace(childTrace(decodeTrace(...))) builds, without the objects', () => {
  const parents = [
    { spanId: '0102030405060708', parentId: '1112131415161718', traceId: 'a1a2a3a4a5a6a7a8', flags: 0n },
    { spanId: 'ffeeddccbbaa9988', parentId: '0000000000000000', traceId: '00000000000000ff', flags: 6n },
    { spanId: '8000000000000001', parentId: '7fffffffffffffff', traceId: 'deadbeefcafef00d', flags: 0xfedcba9876543210n },
  ];
  for (const p of parents) {
    for (const sample of [undefined, 0, 1, 2, -1]) {
      const incoming = encodeTrace(p);
      const got = forwardTrace(incoming, sample);
      const want = childTrace(decodeTrace(incoming), sample);
      const d = decodeTrace(got.header)!;
      assert.equal(d.traceId, want.traceId);
      assert.equal(d.parentId, want.parentId);
      assert.equal(d.flags, want.flags, `flags for sample ${sample}`);
      assert.match(d.spanId, /^[0-9a-f]{16}$/);
      assert.notEqual(d.spanId, p.spanId);
      assert.equal(got.traceId, d.traceId, 'l5d-reqid is the trace id');
    }
  }
  // 40-byte contexts (with a high trace id) are children too; the 32 bytes Finagle reads are sent.
  const forty = Buffer.concat([Buffer.from(encodeTrace(parents[0]!), 'base64'), Buffer.alloc(8, 7)]).toString('base64');
  const c = decodeTrace(forwardTrace(forty, undefined).header)!;
  assert.equal(c.traceId, parents[0]!.traceId);
  assert.equal(c.parentId, parents[0]!.spanId);
  // No context, or one that is not 32/40 bytes of base64: a new root (span = parent = trace).
  for (const bad of [undefined, '', 'not base64 of 32 bytes', 'A'.repeat(200)]) {
    const r = forwardTrace(bad, undefined);
    const d = decodeTrace(r.header)!;
    assert.equal(d.spanId, d.traceId);
    assert.equal(d.parentId, d.traceId);
    assert.equal(d.flags, 0n);
    assert.equal(r.traceId, d.traceId);
  }
  // Each call draws a new id.
  const ids = new Set<string>();
  for (let i = 0; i < 1000; i++) ids.add(forwardTrace(undefined, undefined).traceId);
  assert.equal(ids.size, 1000);
});
