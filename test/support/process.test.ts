/** The test support's port helper: a start on a chosen port waits out a port taken for a moment. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { freePort, onChosenPort } from './process.js';

function listen(port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(port, '127.0.0.1', () => resolve(s));
  });
}

const close = (s: Server): Promise<void> => new Promise((r) => s.close(() => r()));

test('onChosenPort: a port held by another server is retried until it is free', async () => {
  const port = await freePort();
  const holder = await listen(port);
  let tries = 0;
  const released = setTimeout(() => void close(holder), 250);
  const t0 = Date.now();
  const s = await onChosenPort(() => (tries++, listen(port)));
  clearTimeout(released);
  try {
    assert.equal((s.address() as { port: number }).port, port);
    assert.ok(tries >= 2, `tries ${tries}`);
    assert.ok(Date.now() - t0 >= 200, `listening after ${Date.now() - t0} ms`);
  } finally {
    await close(s);
  }
});

test('onChosenPort: gives up after the attempts with the last EADDRINUSE; other errors at once', async () => {
  const holder = await listen(0);
  const port = (holder.address() as { port: number }).port;
  try {
    let tries = 0;
    await assert.rejects(onChosenPort(() => (tries++, listen(port)), 3), { code: 'EADDRINUSE' });
    assert.equal(tries, 3);
    tries = 0;
    await assert.rejects(onChosenPort(() => (tries++, Promise.reject(Object.assign(new Error('listen EACCES'), { code: 'EACCES' })))), { code: 'EACCES' });
    assert.equal(tries, 1);
  } finally {
    await close(holder);
  }
});
