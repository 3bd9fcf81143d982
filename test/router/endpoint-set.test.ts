/** The admin's view of a client (`/client_state.json`): Linkerd's shape, plus why an Addr failed. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { clientSnapshot, type SetEndpoint } from '../../src/router/endpoint-set.js';

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
