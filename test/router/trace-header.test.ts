import { test } from 'node:test';
import assert from 'node:assert/strict';
import { childTrace, decodeTrace, encodeTrace } from '../../src/router/headers.js';

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
