/**
 * A thrift router in process: an attempt whose connection is refused never reached the
 * upstream and is requeued to another endpoint of the same client (Finagle's requeue); with no
 * endpoint left to take it the request fails naming the refused connection.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Addr } from '../../../src/naming/addr.js';
import { MessageType, readMessageHead } from '../../../src/protocol/thrift/wire.js';
import { ThriftRouter } from '../../../src/router/thrift/router.js';
import { callMessage, parseMessage, thriftUpstream } from '../../support/thrift.js';
import { REFUSED_PORT } from '../../support/process.js';
import { TestVar, messageRouterDeps } from '../support.js';

test('thrift: a refused connection is requeued to another endpoint; with none left the request fails naming it', async (t) => {
  const up = await thriftUpstream('U');
  t.after(() => up.close());
  const dead = REFUSED_PORT;
  const addr = new TestVar<Addr>({ type: 'bound', addrs: [{ host: '127.0.0.1', port: dead, meta: {} }, { host: '127.0.0.1', port: up.port, meta: {} }], meta: {} });
  const router = new ThriftRouter({
    ...messageRouterDeps('thr', addr, { thriftMethodInDst: false }),
    protocol: 'thrift',
  });
  t.after(() => router.close());
  const call = async (seq: number): Promise<string> => {
    const msg = callMessage('binary', 'ping', seq, `m${seq}`);
    const reply = await router.route({ msg, head: readMessageHead(msg, 0, 'binary'), dest: '/web' });
    const parsed = parseMessage('binary', reply!);
    assert.equal(parsed.type, MessageType.REPLY);
    return parsed.text!;
  };
  // 20 calls over a balancer that sometimes picks the dead endpoint: every one is answered.
  for (let i = 1; i <= 20; i++) assert.equal(await call(i), `U:ping:m${i}`);
  // Only the dead endpoint left: the requeue has nowhere to go.
  addr.set({ type: 'bound', addrs: [{ host: '127.0.0.1', port: dead, meta: {} }], meta: {} });
  await assert.rejects(call(21), (e: Error) => {
    assert.match(e.message, new RegExp(`127\\.0\\.0\\.1:${dead}(?!\\d)`));
    return true;
  });
});
