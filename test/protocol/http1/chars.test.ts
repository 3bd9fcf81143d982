import { test } from 'node:test';
import assert from 'node:assert/strict';
import { indexOfHeadEnd } from '../../../src/protocol/http1/chars.js';

test('indexOfHeadEnd finds what indexOf("\\r\\n\\r\\n") finds, from any start, on random CR/LF-heavy bytes', () => {
  let seed = 12345;
  const rnd = (n: number): number => {
    seed = (seed * 1103515245 + 12345) >>> 0;
    return seed % n;
  };
  const alphabet = [13, 10, 13, 10, 65, 58, 32];
  let found = 0;
  for (let round = 0; round < 3000; round++) {
    const b = Buffer.alloc(rnd(40));
    for (let i = 0; i < b.length; i++) b[i] = alphabet[rnd(alphabet.length)]!;
    const start = rnd(b.length + 1);
    const want = b.indexOf('\r\n\r\n', start, 'latin1');
    assert.equal(indexOfHeadEnd(b, start), want, `${JSON.stringify(b.toString('latin1'))} from ${start}`);
    if (want >= 0) found++;
  }
  assert.ok(found > 100, 'the random inputs contain head ends');
  assert.equal(indexOfHeadEnd(Buffer.from('GET / HTTP/1.1\r\nHost: a\r\n\r\n'), 0), 23);
  assert.equal(indexOfHeadEnd(Buffer.from('\r\n\r\n'), 0), 0);
  assert.equal(indexOfHeadEnd(Buffer.from('x\n\n\r\n'), 0), -1);
});
