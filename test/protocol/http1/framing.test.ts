import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BAD_FRAMING, BODY_CHUNKED, BODY_LENGTH, BODY_NONE, BodyFramer, NEED_MORE } from '../../../src/protocol/http1/framing.js';

const b = (s: string) => Buffer.from(s, 'latin1');

function scanWhole(kind: number, len: number, s: string): number {
  const f = new BodyFramer();
  f.reset(kind, len);
  return f.scan(b(s), 0);
}

/** Feeds `s` split at every position; returns the end offset seen (relative to s) each time. */
function scanSplit(s: string): number[] {
  const ends: number[] = [];
  for (let cut = 1; cut < s.length; cut++) {
    const f = new BodyFramer();
    f.reset(BODY_CHUNKED, 0);
    const first = f.scan(b(s.slice(0, cut)), 0);
    if (first >= 0) { ends.push(first); continue; }
    assert.equal(first, NEED_MORE, `cut ${cut}`);
    const second = f.scan(b(s.slice(cut)), 0);
    ends.push(second < 0 ? second : second + cut);
  }
  return ends;
}

test('content-length body ends after exactly n bytes, across buffers', () => {
  const f = new BodyFramer();
  f.reset(BODY_LENGTH, 5);
  assert.equal(f.scan(b('abc'), 0), NEED_MORE);
  assert.equal(f.remaining, 2);
  assert.equal(f.scan(b('deGET'), 0), 2);
  assert.equal(f.kind, BODY_NONE);
  assert.equal(f.done, true);
});

test('chunked body with extensions and trailers ends after the final CRLF', () => {
  const body = '5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: yes\r\nOther: 2\r\n\r\n';
  assert.equal(scanWhole(BODY_CHUNKED, 0, body + 'NEXT'), body.length);
  assert.equal(scanWhole(BODY_CHUNKED, 0, '0\r\n\r\n'), 5);
  // Names that only start like framing fields are ordinary trailers.
  assert.equal(scanWhole(BODY_CHUNKED, 0, '0\r\nTransfer-Encodings: x\r\nContent-Lengt: 1\r\n\r\n'), 46);
  assert.equal(scanWhole(BODY_CHUNKED, 0, 'A\r\n0123456789\r\n0\r\n\r\n'), 20);
});

test('chunked scanning gives the same end wherever the bytes are split', () => {
  const body = '3\r\nabc\r\n10;a="b c"\r\n0123456789abcdef\r\n0\r\nT: v\r\n\r\n';
  const ends = scanSplit(body);
  assert.equal(ends.length, body.length - 1);
  for (const e of ends) assert.equal(e, body.length);
});

test('bad chunk framing is rejected', () => {
  const bad = [
    'x\r\n',            // not hex
    '-1\r\n',           // sign
    '5\nhello\r\n',     // bare LF after size
    '5\r\nhelloX\r\n',  // data longer than size
    '5\r\nhello\n0\r\n\r\n', // bare LF after data
    '1000000000000\r\n', // 13 hex digits: beyond the size limit
    '0\r\nbad header\r\n\r\n', // trailer field without a colon
    '0\r\n\tfolded\r\n\r\n', // obs-fold in trailers
    '0\r\n\n',          // bare LF ending trailers
    '5\r\nhello\r\n0\r\nT: v\n\r\n', // bare LF in trailer line
    '0\r\nTransfer-Encoding: chunked\r\n\r\n', // framing field in trailers
    '0\r\ncontent-LENGTH: 5\r\n\r\n',
  ];
  const results = bad.map((s) => scanWhole(BODY_CHUNKED, 0, s));
  assert.deepEqual(results, [BAD_FRAMING, BAD_FRAMING, BAD_FRAMING, BAD_FRAMING, BAD_FRAMING, BAD_FRAMING, BAD_FRAMING, BAD_FRAMING, BAD_FRAMING, BAD_FRAMING, BAD_FRAMING, BAD_FRAMING]);
});

test('leading zeros do not count against the size-digit limit', () => {
  assert.equal(scanWhole(BODY_CHUNKED, 0, '00000000000000001\r\na\r\n0\r\n\r\n'), 27);
});

test('chunk extensions follow RFC 9112 7.1.1 without BWS (as strict upstreams read them), token or quoted values', () => {
  const ok = ['3;a\r\nabc\r\n0\r\n\r\n', '3;a=b\r\nabc\r\n0\r\n\r\n', '3;a="x \\" y";b\r\nabc\r\n0\r\n\r\n', '3;a=b;c=d\r\nabc\r\n0\r\n\r\n'];
  for (const s of ok) assert.equal(scanWhole(BODY_CHUNKED, 0, s), s.length, JSON.stringify(s));
  const bad = ['3 \r\nabc\r\n', '3 ;a=b\r\nabc\r\n', '3\t;a=b\r\nabc\r\n', '3; a=b\r\nabc\r\n', '3;a =b\r\nabc\r\n', '3;a= b\r\nabc\r\n', '3;a = "x";b\r\nabc\r\n',
    '3;ext:=1\r\nabc\r\n', '3;\r\nabc\r\n', '3;a=\r\nabc\r\n', '3;a=b \r\nabc\r\n', '3;a="x\r\nabc\r\n', '3;"a"\r\nabc\r\n', `3;a=${'b'.repeat(5000)}\r\nabc\r\n`];
  for (const s of bad) assert.equal(scanWhole(BODY_CHUNKED, 0, s), BAD_FRAMING, JSON.stringify(s.slice(0, 40)));
  // Split anywhere, a quoted extension still ends in the same place.
  const body = '3;q="a;b=c"\r\nabc\r\n0\r\n\r\n';
  for (const e of scanSplit(body)) assert.equal(e, body.length);
});
