/** The admin's view of a client (`/client_state.json`): Linkerd's shape, plus why an Addr failed. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { clientSnapshot, type SetEndpoint } from '../../src/router/endpoint-set.js';
import { PoolClient } from '../../src/router/pool-client.js';
import { commonClientParams } from '../../src/router/router-config.js';
import { MetricsRegistry } from '../../src/telemetry/metrics-registry.js';
import type { Addr } from '../../src/naming/addr.js';
import '../../src/config/builtin-plugins.js';
import { TestVar } from './support.js';

test('clientSnapshot: a failed Addr says why; other states carry no error field', () => {
  const none = new Map<string, SetEndpoint>();
  assert.deepEqual(clientSnapshot({ type: 'failed', cause: new Error('consul at 127.0.0.1:8500: ECONNREFUSED') }, none, () => 'alive'), {
    state: 'failed',
    error: 'consul at 127.0.0.1:8500: ECONNREFUSED',
    addresses: [],
  });
  assert.deepEqual(clientSnapshot({ type: 'neg' }, none, () => 'alive'), { state: 'neg', addresses: [] });
  assert.deepEqual(clientSnapshot({ type: 'pending' }, none, () => 'alive'), { state: 'pending', addresses: [] });
});

/** A PoolClient over `addr` with fake pools; `endpoints()` lists the addresses its balancer can pick. */
function probationClient(addr: TestVar<Addr>, probation: boolean): { client: PoolClient<{ size: number; close(): void }>; picks(): string[]; closed: string[] } {
  const closed: string[] = [];
  const params = commonClientParams({ loadBalancer: { kind: 'roundRobin', enableProbation: probation }, failureAccrual: { kind: 'io.l5d.consecutiveFailures', failures: 2 } }, undefined);
  const client = new PoolClient(
    '/#/io.l5d.fs/web',
    addr,
    params,
    (a) => ({ size: 0, close: () => void closed.push(`${a.host}:${a.port}`) }),
    new MetricsRegistry({ snapshotIntervalMs: 0 }),
    ['rt', 'http', 'client', '#/io.l5d.fs/web'],
  );
  // Twenty picks cover every available endpoint of a round robin over at most three.
  const picks = (): string[] => [...new Set(Array.from({ length: 20 }, () => client.pick()).filter((e) => e !== null).map((e) => `${e!.host}:${e!.port}`))].sort();
  return { client, picks, closed };
}

const bound2 = (...ports: number[]): Addr => ({ type: 'bound', addrs: ports.map((port) => ({ host: '127.0.0.1', port, meta: {} })), meta: {} });

test('enableProbation: an endpoint service discovery removes stays while healthy, and leaves once failure accrual marks it dead', () => {
  const addr = new TestVar<Addr>(bound2(1, 2));
  const { client, picks, closed } = probationClient(addr, true);
  try {
    assert.deepEqual(picks(), ['127.0.0.1:1', '127.0.0.1:2']);
    addr.set(bound2(2));
    assert.deepEqual(picks(), ['127.0.0.1:1', '127.0.0.1:2'], 'the removed endpoint is still picked (on probation)');
    assert.deepEqual(closed, []);
    // Listed again (off probation), removed again (on probation), then two failures mark it dead.
    addr.set(bound2(1, 2));
    addr.set(bound2(2));
    const one = [...Array.from({ length: 20 }, () => client.pick())].find((e) => e?.port === 1)!;
    client.attemptFailed(one, 1, false);
    client.attemptFailed(one, 1, false);
    assert.deepEqual(picks(), ['127.0.0.1:2'], 'marked dead by accrual: out of the set');
    assert.deepEqual(closed, ['127.0.0.1:1']);
    // A negative Addr keeps the healthy ones on probation too, as Finagle's balancer does.
    addr.set({ type: 'neg' });
    assert.deepEqual(picks(), ['127.0.0.1:2']);
  } finally {
    client.close();
  }
});

test('without enableProbation a removed endpoint leaves at once', () => {
  const addr = new TestVar<Addr>(bound2(1, 2));
  const { client, picks, closed } = probationClient(addr, false);
  try {
    addr.set(bound2(2));
    assert.deepEqual(picks(), ['127.0.0.1:2']);
    assert.deepEqual(closed, ['127.0.0.1:1']);
  } finally {
    client.close();
  }
});
