import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { SocketWriter } from '../../src/protocol/write-batch.js';
import { socketPair as pair } from './http1/helpers.js';

const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

test('writes in one turn are held and leave together, in order, at the end of the batch', async () => {
  const p = await pair();
  const w = new SocketWriter(p.a);
  const order: string[] = [];
  assert.equal(w.writeOwned(Buffer.from('one,'), () => order.push('cb1')), true);
  assert.equal(w.writeBorrowed(Buffer.from('two,')), 0);
  assert.equal(w.writeBorrowed2(Buffer.from('three,'), Buffer.from('four')), 0);
  assert.equal(w.holding, true);
  assert.equal(p.a.writableLength, 0, 'nothing reached the socket yet');
  await turn();
  assert.equal(w.holding, false);
  for (let i = 0; i < 100 && p.text().length < 18; i++) await new Promise((r) => setTimeout(r, 5));
  assert.equal(p.text(), 'one,two,three,four');
  for (let i = 0; i < 100 && order.length === 0; i++) await new Promise((r) => setTimeout(r, 5));
  assert.deepEqual(order, ['cb1']);
  await p.close();
});

test('end() writes what is held first; destroy() drops it and its callback hears an error', async () => {
  const p = await pair();
  const w = new SocketWriter(p.a);
  w.writeOwned(Buffer.from('last words'));
  w.end();
  await p.ended;
  assert.equal(p.text(), 'last words');
  await p.close();

  const q = await pair();
  const w2 = new SocketWriter(q.a);
  let heard: Error | null | undefined;
  w2.writeOwned(Buffer.from('never'), (err) => { heard = err; });
  q.a.destroy();
  await turn();
  assert.ok(heard instanceof Error);
  await q.close();
});

test('a borrowed buffer is copied when held, and large ones go out at once after what is held', async () => {
  const p = await pair();
  const w = new SocketWriter(p.a);
  const borrowed = Buffer.from('abc');
  w.writeBorrowed(borrowed);
  borrowed.write('xyz');
  const big = Buffer.alloc(20 * 1024, 0x62);
  w.writeBorrowed(big);
  assert.equal(w.holding, false, 'the large write flushed what was held before it');
  await turn();
  for (let i = 0; i < 200 && p.text().length < 3 + big.length; i++) await new Promise((r) => setTimeout(r, 5));
  assert.equal(p.text().slice(0, 3), 'abc');
  assert.equal(p.text().length, 3 + big.length);
  await p.close();
});

test('with bytes already buffered in the socket, writes go straight behind them and report back-pressure', async (t) => {
  const p = await pair();
  t.after(() => p.close());
  const w = new SocketWriter(p.a);
  // The peer stops reading until the kernel's buffers are full and the socket buffers bytes.
  p.peer.pause();
  const chunk = Buffer.alloc(256 * 1024, 0x61);
  let sent = 0;
  for (let i = 0; i < 400 && p.a.writableLength === 0; i++) {
    p.a.write(chunk);
    sent += chunk.length;
    await new Promise((r) => setTimeout(r, 2));
  }
  assert.ok(p.a.writableLength > 0, 'the socket holds unsent bytes');
  assert.equal(w.writeOwned(Buffer.from('tail')), false, "Node's back-pressure passes through");
  assert.equal(w.holding, false, 'not held: written behind the buffered bytes');
  p.peer.resume();
  await once(p.a, 'drain');
  for (let i = 0; i < 400 && p.text().length < sent + 4; i++) await new Promise((r) => setTimeout(r, 5));
  assert.equal(p.text().length, sent + 4);
  assert.ok(p.text().endsWith('atail'));
});

test('writeLarge sends an owned chunk at once, behind what is held', async () => {
  const p = await pair();
  const w = new SocketWriter(p.a);
  w.writeOwned(Buffer.from('head,'));
  assert.equal(w.holding, true);
  const big = Buffer.alloc(40 * 1024, 0x7a);
  // False (wait for 'drain') exactly when the socket kept its high-water mark's worth or more.
  const more = w.writeLarge(big);
  assert.equal(more, p.a.writableLength < p.a.writableHighWaterMark);
  assert.equal(w.holding, false, 'what was held left with it');
  for (let i = 0; i < 200 && p.text().length < 5 + big.length; i++) await new Promise((r) => setTimeout(r, 5));
  assert.equal(p.text().slice(0, 5), 'head,');
  assert.equal(p.text().length, 5 + big.length);
  assert.equal(p.text().slice(5), 'z'.repeat(big.length));
  await p.close();
});
