import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  decodeMessage,
  encodeMessage,
  encodeMessageParts,
  FragmentAssembler,
  FrameDecoder,
  MuxDecoder,
  type MuxMessage,
} from '../../../src/protocol/mux/frame.js';
import { MuxError } from '../../../src/protocol/mux/errors.js';
import { hex, show } from './helpers.js';

// Every expected byte string below is written from the spec (finagle-mux Message.scala and the
// mux package scaladoc): size:4 type:1 tag:3 body, sizes counting the bytes after the size field.

function assertBytes(actual: Buffer, expected: Buffer): void {
  assert.equal(show(actual), show(expected));
}

/** The frame without its size field, as decodeMessage takes it. */
function body(frame: Buffer): Buffer {
  assert.equal(frame.readUInt32BE(0), frame.length - 4, 'size field');
  return frame.subarray(4);
}

test('the marker Rerr is type 127 (the old Rerr), tag 1, "tinit check"', () => {
  const expected = hex('00 00 00 0f 7f 00 00 01 74 69 6e 69 74 20 63 68 65 63 6b');
  assertBytes(encodeMessage({ kind: 'Rerr', tag: 1, message: 'tinit check' }), expected);
  assert.deepEqual(decodeMessage(body(expected)), { kind: 'Rerr', tag: 1, message: 'tinit check' });
  // The current Rerr number -128 decodes the same.
  assert.deepEqual(decodeMessage(hex('80 00 00 07 78')), { kind: 'Rerr', tag: 7, message: 'x' });
});

test('Tinit and Rinit: version:2 then (klen:4 k vlen:4 v)*', () => {
  assertBytes(encodeMessage({ kind: 'Tinit', tag: 1, version: 1, headers: [] }), hex('00 00 00 06 44 00 00 01 00 01'));
  assertBytes(encodeMessage({ kind: 'Rinit', tag: 1, version: 1, headers: [] }), hex('00 00 00 06 bc 00 00 01 00 01'));
  const withHeader = hex('00 00 00 11 44 00 00 01 00 01 00 00 00 01 61 00 00 00 02 62 63');
  assertBytes(encodeMessage({ kind: 'Tinit', tag: 1, version: 1, headers: [[Buffer.from('a'), Buffer.from('bc')]] }), withHeader);
  const m = decodeMessage(body(withHeader));
  assert.equal(m.kind, 'Tinit');
  if (m.kind !== 'Tinit') return;
  assert.equal(m.tag, 1);
  assert.equal(m.version, 1);
  assert.deepEqual(m.headers.map(([k, v]) => [k.toString(), v.toString()]), [['a', 'bc']]);
  const rinit = decodeMessage(hex('bc 00 00 01 00 02'));
  assert.deepEqual(rinit, { kind: 'Rinit', tag: 1, version: 2, headers: [] });
});

test('Tdispatch with no contexts, empty dst and empty dtab', () => {
  const expected = hex('00 00 00 0c 02 00 00 02 00 00 00 00 00 00 68 69');
  const m: MuxMessage = { kind: 'Tdispatch', tag: 2, contexts: [], dst: '', dtab: [], body: Buffer.from('hi') };
  assertBytes(encodeMessage(m), expected);
  const parts = encodeMessageParts(m);
  assert.equal(parts.length, 2, 'the payload is written as its own buffer, not copied');
  assert.equal(parts[1], m.body);
  const d = decodeMessage(body(expected));
  assert.equal(d.kind, 'Tdispatch');
  if (d.kind !== 'Tdispatch') return;
  assert.equal(d.tag, 2);
  assert.deepEqual(d.contexts, []);
  assert.equal(d.dst, '');
  assert.deepEqual(d.dtab, []);
  assert.equal(d.body.toString(), 'hi');
});

test('Tdispatch with a context, a dst and a dentry', () => {
  const expected = hex(
    '00 00 00 1c 02 01 02 03' + // size 28, Tdispatch, tag 0x010203
      ' 00 01 00 01 6b 00 02 76 31' + // nctx 1: "k" -> "v1"
      ' 00 02 2f 73' + // dst "/s"
      ' 00 01 00 02 2f 61 00 02 2f 62' + // 1 dentry: "/a" -> "/b"
      ' 78', // body "x"
  );
  const m: MuxMessage = {
    kind: 'Tdispatch',
    tag: 0x010203,
    contexts: [[Buffer.from('k'), Buffer.from('v1')]],
    dst: '/s',
    dtab: [['/a', '/b']],
    body: Buffer.from('x'),
  };
  assertBytes(encodeMessage(m), expected);
  const d = decodeMessage(body(expected));
  assert.equal(d.kind, 'Tdispatch');
  if (d.kind !== 'Tdispatch') return;
  assert.equal(d.tag, 0x010203);
  assert.deepEqual(d.contexts.map(([k, v]) => [k.toString(), v.toString()]), [['k', 'v1']]);
  assert.equal(d.dst, '/s');
  assert.deepEqual(d.dtab, [['/a', '/b']]);
  assert.equal(d.body.toString(), 'x');
});

test('Rdispatch ok, error and nack', () => {
  const ok = hex('00 00 00 09 fe 00 00 02 00 00 00 6f 6b');
  const err = hex('00 00 00 0b fe 00 00 03 01 00 00 62 6f 6f 6d');
  const nack = hex('00 00 00 07 fe 00 00 04 02 00 00');
  assertBytes(encodeMessage({ kind: 'RdispatchOk', tag: 2, contexts: [], body: Buffer.from('ok') }), ok);
  assertBytes(encodeMessage({ kind: 'RdispatchError', tag: 3, contexts: [], message: 'boom' }), err);
  assertBytes(encodeMessage({ kind: 'RdispatchNack', tag: 4, contexts: [] }), nack);
  const dOk = decodeMessage(body(ok));
  assert.equal(dOk.kind, 'RdispatchOk');
  if (dOk.kind === 'RdispatchOk') assert.equal(dOk.body.toString(), 'ok');
  assert.deepEqual(decodeMessage(body(err)), { kind: 'RdispatchError', tag: 3, contexts: [], message: 'boom' });
  assert.deepEqual(decodeMessage(body(nack)), { kind: 'RdispatchNack', tag: 4, contexts: [] });
  // A reply carrying a context (Finagle sends MuxFailure flags this way) keeps its body intact.
  const withCtx = decodeMessage(hex('fe 00 00 05 00 00 01 00 01 63 00 01 64 72'));
  assert.equal(withCtx.kind, 'RdispatchOk');
  if (withCtx.kind !== 'RdispatchOk') return;
  assert.deepEqual(withCtx.contexts.map(([k, v]) => [k.toString(), v.toString()]), [['c', 'd']]);
  assert.equal(withCtx.body.toString(), 'r');
});

test('Tdiscarded is a marker (tag 0) sent as type -62: which:3 why', () => {
  const expected = hex('00 00 00 0b c2 00 00 00 00 00 05 67 6f 6e 65');
  assertBytes(encodeMessage({ kind: 'Tdiscarded', which: 5, why: 'gone' }), expected);
  assert.deepEqual(decodeMessage(body(expected)), { kind: 'Tdiscarded', which: 5, why: 'gone' });
  // The current number 66 decodes the same.
  assert.deepEqual(decodeMessage(hex('42 00 00 00 01 02 03')), { kind: 'Tdiscarded', which: 0x010203, why: '' });
  assertBytes(encodeMessage({ kind: 'Rdiscarded', tag: 5 }), hex('00 00 00 04 be 00 00 05'));
});

test('Tping, Rping, Tdrain, Rdrain are header-only', () => {
  assertBytes(encodeMessage({ kind: 'Tping', tag: 1 }), hex('00 00 00 04 41 00 00 01'));
  assertBytes(encodeMessage({ kind: 'Rping', tag: 1 }), hex('00 00 00 04 bf 00 00 01'));
  assertBytes(encodeMessage({ kind: 'Tdrain', tag: 1 }), hex('00 00 00 04 40 00 00 01'));
  assertBytes(encodeMessage({ kind: 'Rdrain', tag: 1 }), hex('00 00 00 04 c0 00 00 01'));
  assert.deepEqual(decodeMessage(hex('41 00 00 09')), { kind: 'Tping', tag: 9 });
  assert.deepEqual(decodeMessage(hex('bf 7f ff ff')), { kind: 'Rping', tag: 0x7fffff });
});

test('Treq, Rreq and Tlease', () => {
  const treq = hex('00 00 00 0a 01 00 00 02 01 01 02 61 62 7a');
  assertBytes(encodeMessage({ kind: 'Treq', tag: 2, keys: [[1, Buffer.from('ab')]], body: Buffer.from('z') }), treq);
  const d = decodeMessage(body(treq));
  assert.equal(d.kind, 'Treq');
  if (d.kind === 'Treq') {
    assert.deepEqual(d.keys.map(([k, v]) => [k, v.toString()]), [[1, 'ab']]);
    assert.equal(d.body.toString(), 'z');
  }
  assertBytes(encodeMessage({ kind: 'RreqOk', tag: 2, body: Buffer.from('r') }), hex('00 00 00 06 ff 00 00 02 00 72'));
  assertBytes(encodeMessage({ kind: 'RreqError', tag: 2, message: 'e' }), hex('00 00 00 06 ff 00 00 02 01 65'));
  assertBytes(encodeMessage({ kind: 'RreqNack', tag: 2 }), hex('00 00 00 05 ff 00 00 02 02'));
  const lease = hex('00 00 00 0d 43 00 00 00 00 00 00 00 00 00 00 03 e8');
  assertBytes(encodeMessage({ kind: 'Tlease', unit: 0, howLong: 1000n }), lease);
  assert.deepEqual(decodeMessage(body(lease)), { kind: 'Tlease', unit: 0, howLong: 1000n });
});

test('bad messages are rejected with MESH_ERR_MUX_BAD_MESSAGE', () => {
  const bad = [
    '10 00 00 01', // unknown type 16
    '02 00 00 02 00', // Tdispatch cut inside nctx
    '02 00 00 02 00 01 00 05 61', // context key longer than the frame
    'fe 00 00 02 03 00 00', // Rdispatch status 3
    'fe 00 00 02', // Rdispatch with no status
    'c2 00 00 00 00 01', // Tdiscarded with a 2-byte which
    '43 00 00 00 00 00 00', // short Tlease
    '44 00 00 01 00 01 00 00 00 09 61', // Tinit header key longer than the frame
    '01 00 00 02 ff', // Treq with a negative key count
    '41 80 00 01', // a fragment of a Tping
    '00 00', // no type and tag
  ];
  for (const h of bad) {
    assert.throws(() => decodeMessage(hex(h)), (e: unknown) => e instanceof MuxError && e.code === 'MESH_ERR_MUX_BAD_MESSAGE', h);
  }
  assert.throws(() => encodeMessage({ kind: 'Tping', tag: 1 << 23 }), (e: unknown) => e instanceof MuxError && e.code === 'MESH_ERR_MUX_BAD_MESSAGE');
});

// A stream of four messages: marker Rerr, Tdispatch(2, "hello"), Tping(1), Rdispatch ok(3, "r").
const STREAM = hex(
  '00 00 00 0f 7f 00 00 01 74 69 6e 69 74 20 63 68 65 63 6b' +
    ' 00 00 00 0f 02 00 00 02 00 00 00 00 00 00 68 65 6c 6c 6f' +
    ' 00 00 00 04 41 00 00 01' +
    ' 00 00 00 08 fe 00 00 03 00 00 00 72',
);

function summary(ms: MuxMessage[]): string[] {
  return ms.map((m) => {
    switch (m.kind) {
      case 'Rerr':
        return `Rerr ${m.tag} ${m.message}`;
      case 'Tdispatch':
        return `Tdispatch ${m.tag} ${m.body.toString()}`;
      case 'RdispatchOk':
        return `RdispatchOk ${m.tag} ${m.body.toString()}`;
      case 'Tping':
        return `Tping ${m.tag}`;
      default:
        return m.kind;
    }
  });
}

const EXPECTED_STREAM = ['Rerr 1 tinit check', 'Tdispatch 2 hello', 'Tping 1', 'RdispatchOk 3 r'];

test('the decoder finds the same messages in coalesced chunks and wherever the stream is split', () => {
  assert.deepEqual(summary(new MuxDecoder().push(STREAM)), EXPECTED_STREAM);
  for (let a = 1; a < STREAM.length; a++) {
    for (const b of [a + 1, a + 7, STREAM.length]) {
      if (b > STREAM.length) continue;
      const d = new MuxDecoder();
      const got = [...d.push(STREAM.subarray(0, a)), ...d.push(STREAM.subarray(a, b)), ...d.push(STREAM.subarray(b))];
      assert.deepEqual(summary(got), EXPECTED_STREAM, `split at ${a}/${b}`);
    }
  }
  // One byte at a time.
  const d = new MuxDecoder();
  const got: MuxMessage[] = [];
  for (let i = 0; i < STREAM.length; i++) got.push(...d.push(STREAM.subarray(i, i + 1)));
  assert.deepEqual(summary(got), EXPECTED_STREAM);
});

test('fragments of a tag are joined with the frame that ends them, around other messages', () => {
  const stream = hex(
    '00 00 00 0c 02 80 00 02 00 00 00 00 00 00 68 65' + // Tdispatch tag 2, MSB set: header + "he"
      ' 00 00 00 04 41 00 00 01' + // a Tping in between
      ' 00 00 00 05 02 80 00 02 6c' + // fragment "l"
      ' 00 00 00 06 02 00 00 02 6c 6f', // last frame (MSB clear): "lo"
  );
  for (let cut = 0; cut <= stream.length; cut++) {
    const d = new MuxDecoder();
    const got = [...d.push(stream.subarray(0, cut)), ...d.push(stream.subarray(cut))];
    assert.deepEqual(summary(got), ['Tping 1', 'Tdispatch 2 hello'], `cut ${cut}`);
  }
  // A Tdiscarded for the tag drops what was gathered; the next frame of the tag stands alone.
  const a = new FragmentAssembler();
  assert.equal(a.push(hex('02 80 00 02 00 00 00 00 00 00 68')), null);
  assert.equal(a.pending, 1);
  const discard = hex('c2 00 00 00 00 00 02');
  assert.equal(a.push(discard), discard);
  assert.equal(a.pending, 0);
  // An Rerr ends an Rdispatch's fragments without being joined to them.
  assert.equal(a.push(hex('fe 80 00 03 00 00 00 61')), null);
  const rerr = hex('7f 00 00 03 65');
  assert.equal(a.push(rerr), rerr);
  assert.equal(a.pending, 0);
});

test('a frame over the limit is rejected as soon as its size is read', () => {
  const d = new FrameDecoder(10);
  assert.deepEqual(d.push(hex('00 00 00 0a 41 00 00 01 00 00 00 00 00 00')).length, 1);
  assert.throws(() => d.push(hex('00 00 00 0b')), (e: unknown) => e instanceof MuxError && e.code === 'MESH_ERR_MUX_FRAME_TOO_LARGE');
  // The default limit is 16 MiB: a header announcing 16 MiB + 1 is refused without its body.
  const big = new MuxDecoder();
  assert.deepEqual(big.push(hex('01 00 00 00')), []);
  assert.throws(() => new MuxDecoder().push(hex('01 00 00 01 02 00 00 02')), (e: unknown) => e instanceof MuxError && e.code === 'MESH_ERR_MUX_FRAME_TOO_LARGE');
  // Fragments may not add up to more than the limit either.
  const f = new MuxDecoder(12);
  assert.deepEqual(f.push(hex('00 00 00 0c 02 80 00 02 00 00 00 00 00 00 61 62')), []);
  assert.throws(() => f.push(hex('00 00 00 0c 02 80 00 02 61 62 63 64 65 66 67 68')), (e: unknown) => e instanceof MuxError && e.code === 'MESH_ERR_MUX_FRAME_TOO_LARGE');
});

test('fragments on many tags at once may not hold more than maxPendingBytes in all', () => {
  // Each tag stays under its own 8-byte limit; together they pass the 20-byte total.
  const a = new FragmentAssembler(8, 20);
  const frag = (tag: number, n: number): Buffer => Buffer.concat([hex(`02 80 00 ${tag.toString(16).padStart(2, '0')}`), Buffer.alloc(n, 0x61)]);
  assert.equal(a.push(frag(2, 6)), null);
  assert.equal(a.push(frag(3, 6)), null);
  assert.equal(a.push(frag(4, 6)), null);
  assert.throws(() => a.push(frag(5, 6)), (e: unknown) => e instanceof MuxError && e.code === 'MESH_ERR_MUX_FRAME_TOO_LARGE' && /in all/.test(e.message));
  // Finished and discarded messages give their bytes back.
  const b = new FragmentAssembler(8, 20);
  assert.equal(b.push(frag(2, 6)), null);
  assert.equal(b.push(frag(3, 6)), null);
  assert.equal(b.push(hex('02 00 00 02 62'))?.length, 4 + 6 + 1);
  assert.equal(b.push(hex('c2 00 00 00 00 00 03'))?.length, 7);
  assert.equal(b.pending, 0);
  for (let tag = 2; tag < 5; tag++) assert.equal(b.push(frag(tag, 6)), null);
  assert.equal(b.pending, 3);
});

test('a large frame arriving in many chunks is decoded whole', () => {
  const payload = Buffer.alloc(300_000, 7);
  const frame = encodeMessage({ kind: 'RdispatchOk', tag: 9, contexts: [], body: payload });
  const d = new MuxDecoder();
  const got: MuxMessage[] = [];
  for (let i = 0; i < frame.length; i += 4096) got.push(...d.push(frame.subarray(i, i + 4096)));
  assert.equal(got.length, 1);
  const m = got[0];
  assert.equal(m.kind, 'RdispatchOk');
  if (m.kind === 'RdispatchOk') assert.ok(m.body.equals(payload));
});
