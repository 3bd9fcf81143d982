import { test } from 'node:test';
import assert from 'node:assert/strict';
import { traceFieldsLength, writeTraceFields } from '../../src/router/headers.js';
import { decodeL5dCtxTrace, traceContextInto } from '../../src/telemetry/trace-context.js';

// Finagle's l5d-ctx-trace: base64 of span id, parent id, trace id and flags, 8 bytes each,
// big-endian, then the trace id's high 64 bits when it has 128.
const b64 = (...hex: string[]): string => Buffer.from(hex.join(''), 'hex').toString('base64');
const hexOf = (v: string, from: number, to: number): string => Buffer.from(v, 'base64').toString('hex', from * 8, to * 8);

/** One scratch context, reused as a router reuses nothing: stale bytes would show. */
const CTX = new Uint8Array(40);

/**
 * What the router forwards for a caller's `l5d-ctx-trace` (and `l5d-sample` rate): the
 * context built by traceContextInto and written by writeTraceFields, read back from the bytes.
 */
function forwardTrace(incoming: string | undefined, sample: number | undefined): { header: string; traceId: string } {
  const len = traceContextInto(CTX, incoming, sample);
  const out = Buffer.alloc(traceFieldsLength(len));
  assert.equal(writeTraceFields(out, 0, CTX, len), out.length);
  const m = /^l5d-ctx-trace: ([A-Za-z0-9+/=]+)\r\nl5d-reqid: ([0-9a-f]{16})\r\n$/.exec(out.toString('latin1'));
  assert.ok(m, out.toString('latin1'));
  return { header: m[1]!, traceId: m[2]! };
}

const SPAN = '0102030405060708';
const PARENT = '1112131415161718';
const TRACE = 'a1a2a3a4a5a6a7a8';

test('a child of the caller keeps its trace id and flags, takes its span as parent, and gets a new span', () => {
  for (const flags of ['0000000000000000', '0000000000000006', 'fedcba9876543210']) {
    const incoming = b64(SPAN, PARENT, TRACE, flags);
    const t = forwardTrace(incoming, undefined);
    assert.equal(Buffer.from(t.header, 'base64').length, 32);
    assert.equal(hexOf(t.header, 1, 2), SPAN, 'parent = the caller span');
    assert.equal(hexOf(t.header, 2, 3), TRACE);
    assert.equal(hexOf(t.header, 3, 4), flags);
    assert.match(hexOf(t.header, 0, 1), /^[0-9a-f]{16}$/);
    assert.notEqual(hexOf(t.header, 0, 1), SPAN);
    assert.equal(t.traceId, TRACE, 'l5d-reqid is the trace id');
  }
});

test('a 40-byte context (128-bit trace id) keeps its high half', () => {
  const high = 'b1b2b3b4b5b6b7b8';
  const t = forwardTrace(b64(SPAN, PARENT, TRACE, '0000000000000006', high), undefined);
  const d = decodeL5dCtxTrace(t.header)!;
  assert.equal(d.traceId, high + TRACE);
  assert.equal(d.parentId, SPAN);
  assert.equal(d.sampled, true);
  assert.equal(t.traceId, TRACE);
});

test('l5d-sample sets the sampling bits: 1 sampled, 0 not, out of range left alone', () => {
  const incoming = b64(SPAN, PARENT, TRACE, 'ff00000000000004');
  assert.equal(hexOf(forwardTrace(incoming, 1).header, 3, 4), 'ff00000000000006');
  assert.equal(hexOf(forwardTrace(incoming, 0).header, 3, 4), 'ff00000000000002');
  assert.equal(hexOf(forwardTrace(incoming, 2).header, 3, 4), 'ff00000000000004');
  assert.equal(hexOf(forwardTrace(incoming, -1).header, 3, 4), 'ff00000000000004');
  assert.equal(hexOf(forwardTrace(undefined, 1).header, 3, 4), '0000000000000006');
});

test('without a usable context the request starts a new root: span = parent = trace, no flags', () => {
  // 40 bytes first, so a stale high half from the scratch buffer would show in a 32-byte root.
  forwardTrace(b64(SPAN, PARENT, TRACE, '0000000000000006', 'b1b2b3b4b5b6b7b8'), undefined);
  for (const bad of [undefined, '', 'not base64 of 32 bytes', 'A'.repeat(200), b64(SPAN, PARENT, TRACE)]) {
    const t = forwardTrace(bad, undefined);
    assert.equal(Buffer.from(t.header, 'base64').length, 32, String(bad));
    const id = hexOf(t.header, 0, 1);
    assert.equal(hexOf(t.header, 1, 2), id);
    assert.equal(hexOf(t.header, 2, 3), id);
    assert.equal(hexOf(t.header, 3, 4), '0000000000000000');
    assert.equal(t.traceId, id);
  }
  const ids = new Set<string>();
  for (let i = 0; i < 1000; i++) ids.add(forwardTrace(undefined, undefined).traceId);
  assert.equal(ids.size, 1000, 'each call draws a new id');
});

test('the trace fields written in place are the context in base64 and its trace id in hex, for 32- and 40-byte contexts', () => {
  for (const incoming of [undefined, b64(SPAN, PARENT, TRACE, '0000000000000006'), b64(SPAN, PARENT, TRACE, '0000000000000006', 'b1b2b3b4b5b6b7b8')]) {
    for (let i = 0; i < 50; i++) {
      const ctx = new Uint8Array(40);
      const len = traceContextInto(ctx, incoming, undefined);
      const bytes = Buffer.from(ctx.subarray(0, len));
      const out = Buffer.alloc(traceFieldsLength(len) + 6, 0x2e);
      const end = writeTraceFields(out, 3, ctx, len);
      assert.equal(end, 3 + traceFieldsLength(len));
      assert.equal(out.toString('latin1'), `...l5d-ctx-trace: ${bytes.toString('base64')}\r\nl5d-reqid: ${bytes.toString('hex', 16, 24)}\r\n...`);
      assert.equal(bytes.toString('hex', 8, 16), incoming === undefined ? bytes.toString('hex', 0, 8) : SPAN);
    }
  }
  // Every base64 tail: a context of 31, 32 and 33 bytes (1, 2 and 0 bytes past the last full group).
  for (const len of [31, 32, 33]) {
    const ctx = Uint8Array.from({ length: len }, (_, i) => (i * 37 + 11) & 0xff);
    const out = Buffer.alloc(traceFieldsLength(len));
    writeTraceFields(out, 0, ctx, len);
    assert.equal(out.toString('latin1').split('\r\n')[0], `l5d-ctx-trace: ${Buffer.from(ctx).toString('base64')}`);
  }
});
