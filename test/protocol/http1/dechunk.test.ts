import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BODY_CHUNKED, BodyFramer, NEED_MORE } from '../../../src/protocol/http1/framing.js';
import { ChunkDecoder } from '../../../src/protocol/http1/dechunk.js';
import { seededRandom } from '../../support/prng.js';

const b = (s: string) => Buffer.from(s, 'latin1');

/** Chunk data that looks like framing: CRLFs, a size line, a blank line. */
const TRICKY = '\r\n0\r\n\r\nab\r\n';
const BODY = `4\r\nresp\r\n5;x=y;q="a; b\\"";z\r\nonse!\r\n00010\r\n0123456789abcdef\r\nb\r\n${TRICKY}\r\n0;last\r\nX-Sum: 9\r\nX-Other: a\r\n\r\n`;
const DATA = `response!0123456789abcdef${TRICKY}`;

/**
 * Relays `s` cut into pieces as the engine does: each piece (a fresh buffer, as a read is)
 * is scanned by BodyFramer, then its body bytes decoded. Returns the data relayed, and checks
 * that bytes past the body's end are left as they were.
 */
function relay(s: string, cuts: readonly number[]): string {
  const f = new BodyFramer();
  const d = new ChunkDecoder();
  f.reset(BODY_CHUNKED, 0);
  d.reset();
  let out = '';
  let at = 0;
  for (const cut of [...cuts, s.length]) {
    const piece = b(s.slice(at, cut));
    at = cut;
    const end = f.scan(piece, 0);
    assert.ok(end >= 0 || end === NEED_MORE, `scan ${end} at ${cut}`);
    const to = end === NEED_MORE ? piece.length : end;
    const tail = piece.toString('latin1', to);
    const n = d.decode(piece, 0, to);
    out += piece.toString('latin1', 0, n);
    assert.equal(piece.toString('latin1', to), tail, 'bytes past the body changed');
    if (end !== NEED_MORE) return out;
  }
  return `${out} (no end)`;
}

test('a chunked body in one buffer decodes to its data: extensions, empty-looking data and trailers dropped', () => {
  assert.equal(relay(BODY, []), DATA);
  assert.equal(relay(`${BODY}HTTP/1.1 200 OK\r\n`, []), DATA);
  assert.equal(relay('0\r\n\r\n', []), '');
});

test('a chunked body decodes the same cut at any one or two places, and byte by byte', () => {
  for (let i = 1; i < BODY.length; i++) {
    assert.equal(relay(BODY, [i]), DATA, `cut at ${i}`);
    for (let j = i + 1; j < BODY.length; j++) assert.equal(relay(BODY, [i, j]), DATA, `cut at ${i}, ${j}`);
  }
  assert.equal(relay(BODY, Array.from({ length: BODY.length - 1 }, (_, i) => i + 1)), DATA);
});

test('large chunks with long sizes decode across random reads', () => {
  const rnd = seededRandom(20261206);
  let body = '';
  let data = '';
  for (let k = 0; k < 40; k++) {
    const n = 1 + Math.floor(rnd() * 70_000);
    const chunk = String.fromCharCode(97 + (k % 26)).repeat(n);
    body += `${'0'.repeat(k % 3)}${n.toString(16)}${k % 2 === 0 ? ';k=' + k : ''}\r\n${chunk}\r\n`;
    data += chunk;
  }
  body += '0\r\n\r\n';
  for (let round = 0; round < 5; round++) {
    const cuts: number[] = [];
    for (let at = 0, g = 0; g < 10_000; g++) {
      at += 1 + Math.floor(rnd() * 100_000);
      if (at >= body.length) break;
      cuts.push(at);
    }
    assert.ok(relay(body, cuts) === data, `round ${round}`);
  }
});
