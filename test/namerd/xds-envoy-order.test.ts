/**
 * Make-before-break on an Envoy's ADS stream: a dtab write reaches it as CDS (new clusters
 * added), EDS for them, RDS, and only once that RDS is ACKed, CDS without the clusters it no
 * longer uses (Envoy's xDS protocol, "eventual consistency considerations"). The client is the
 * Envoy-like raw ADS client of xds-envoy.test.ts (Envoy's own protos); it records every
 * response it gets and every ACK or NACK it sends, in order, and the checks are on that order;
 * before an ACK that a check orders against, it waits for the answer to a request sent after
 * everything before it, so whatever namerd sent before it could read the ACK is logged before it.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createNamers } from '../../src/namers/registry.js';
import { readDtab, readPath } from '../../src/naming/index.js';
import { createStore } from '../../src/namerd/stores/registry.js';
import { Namespaces } from '../../src/namerd/namespaces.js';
import { XdsServer } from '../../src/namerd/xds/server.js';
import { CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, ROUTE_TYPE } from '../../src/namerd/xds/resources.js';
import { envoyAdsClient, responsesByType, type EnvoyAdsClient, type EnvoyResponse } from './envoy-protos.js';

const dir = mkdtempSync(join(tmpdir(), 'namerd-xds-order-'));
for (const [f, text] of [
  ['web-v1', '127.0.0.1 8081\n'],
  ['web-v2', '127.0.0.1 8082\n'],
  ['web-v3', '127.0.0.1 8083\n'],
  ['users', '127.0.0.1 8090\n'],
]) writeFileSync(join(dir, f!), text!);

const V1 = '/#/io.l5d.fs/web-v1';
const V2 = '/#/io.l5d.fs/web-v2';
const V3 = '/#/io.l5d.fs/web-v3';
const USERS = '/#/io.l5d.fs/users';
const BASE = '/svc => /#/io.l5d.fs';
const CANARY = `${BASE}; /svc/web => 3 * ${V1} & 1 * ${V2}`;
const ONLY_V1 = `${BASE}; /svc/web => ${V1}`;

const store = createStore({ kind: 'io.l5d.inMemory', namespaces: { order: CANARY, bounded: ONLY_V1 } });
const namers = createNamers([{ kind: 'io.l5d.fs', rootDir: dir, prefix: '/io.l5d.fs' }] as never, { file: 't.yaml', readPath });
const namespaces = new Namespaces(store, namers);
const xds = (namespace: string, warmMs?: number): XdsServer =>
  new XdsServer(namespaces, { ip: '127.0.0.1', port: 0, prefix: readPath('/svc'), namespace, envoy: { listeners: [{ port: 4140 }], services: ['users'] }, warmMs });
// The default wait (5 s) for the ordering tests, so that only warm clusters release routes; a
// short one where the wait itself is tested.
const server = xds('order');
const quick = xds('bounded', 1000);
const ports = { order: await server.listen(), bounded: await quick.listen() };
const clients: EnvoyAdsClient[] = [];

after(async () => {
  for (const c of clients) c.close();
  await server.close();
  await quick.close();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A type namerd has nothing of: each request naming new names is answered (empty), in order with the rest. */
const PING = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret';

/** What the client saw and said, in order: responses in, ACKs and NACKs out. */
type Event = { readonly dir: 'in'; readonly r: EnvoyResponse } | { readonly dir: 'out'; readonly type: string; readonly nonce: string; readonly nack: boolean };

interface Recorder {
  readonly log: Event[];
  send(r: Record<string, unknown>): void;
  next(type: string, ms?: number): Promise<EnvoyResponse>;
  /** Resolves once the server has answered a request sent now: whatever it sent before is in the log. */
  sync(): Promise<void>;
  close(): void;
}

function recorder(port: number): Recorder {
  const c = envoyAdsClient(`127.0.0.1:${port}`);
  clients.push(c);
  const call = c.StreamAggregatedResources();
  const log: Event[] = [];
  let pings = 0;
  const { next } = responsesByType(call, (r) => log.push({ dir: 'in', r }));
  return {
    log,
    send: (r) => {
      const nonce = (r['response_nonce'] as string | undefined) ?? '';
      if (nonce !== '') log.push({ dir: 'out', type: r['type_url'] as string, nonce, nack: r['error_detail'] !== undefined });
      call.write({ node: { id: 'envoy-order', cluster: 'edge' }, ...r });
    },
    next,
    sync: async () => {
      call.write({ type_url: PING, resource_names: [`ping-${++pings}`] });
      await next(PING);
    },
    close: () => call.end(),
  };
}

const ack = (r: EnvoyResponse, names: string[] = []): Record<string, unknown> => ({ type_url: r.type_url, resource_names: names, version_info: r.version_info, response_nonce: r.nonce });
const names = (r: EnvoyResponse): string[] => r.resources.map((x) => (r.type_url === ENDPOINT_TYPE ? x['cluster_name'] : x['name']) as string).sort();
/** The clusters an RDS response routes to. */
function routed(r: EnvoyResponse): string[] {
  type Vh = { routes: { route?: { cluster?: string; weighted_clusters?: { clusters: { name: string }[] } } }[] };
  const ids = new Set<string>();
  for (const res of r.resources) {
    for (const vh of res['virtual_hosts'] as Vh[]) {
      for (const x of vh.routes) {
        if (x.route?.cluster !== undefined) ids.add(x.route.cluster);
        for (const w of x.route?.weighted_clusters?.clusters ?? []) ids.add(w.name);
      }
    }
  }
  return [...ids].sort();
}

/** Where response `r` came in. */
const arrived = (log: readonly Event[], r: EnvoyResponse): number => log.findIndex((e) => e.dir === 'in' && e.r === r);
/** Where the first ACK (or NACK, with `nack`) of a response of `type` that `pred` holds for went out, or -1. */
function answered(log: readonly Event[], type: string, pred: (r: EnvoyResponse) => boolean, nack = false): number {
  const nonces = new Set(log.flatMap((e) => (e.dir === 'in' && e.r.type_url === type && pred(e.r) ? [e.r.nonce] : [])));
  return log.findIndex((e) => e.dir === 'out' && e.type === type && e.nack === nack && nonces.has(e.nonce));
}
/** Every CDS response without `cluster` came after the client ACKed an RDS response that does not route to it. */
function assertRemovedAfterRoutes(log: readonly Event[], cluster: string): void {
  const acked = answered(log, ROUTE_TYPE, (r) => !routed(r).includes(cluster));
  for (const [i, e] of log.entries()) {
    if (e.dir !== 'in' || e.r.type_url !== CLUSTER_TYPE || names(e.r).includes(cluster)) continue;
    assert.ok(acked >= 0 && acked < i, `CDS without ${cluster} (response ${i}) before routes without it were ACKed (at ${acked}): ${order(log)}`);
  }
}
/** The log, short, for failure messages. */
const order = (log: readonly Event[]): string =>
  log.map((e) => (e.dir === 'in' ? `<${e.r.type_url.split('.').pop()}#${e.r.nonce}[${(e.r.type_url === ROUTE_TYPE ? routed(e.r) : names(e.r)).map((n) => n.split('/').pop()).join(',')}]` : `>${e.nack ? 'NACK' : 'ACK'} ${e.type.split('.').pop()}#${e.nonce}`)).join(' ');

/** Envoy's start: wildcard CDS and LDS, EDS for the clusters, RDS for the listener's routes; everything ACKed. */
async function start(s: Recorder, routeName: string): Promise<{ cds: EnvoyResponse; eds: EnvoyResponse; rds: EnvoyResponse }> {
  s.send({ type_url: CLUSTER_TYPE, resource_names: [] });
  s.send({ type_url: LISTENER_TYPE, resource_names: [] });
  const cds = await s.next(CLUSTER_TYPE);
  s.send(ack(cds));
  s.send({ type_url: ENDPOINT_TYPE, resource_names: names(cds) });
  const eds = await s.next(ENDPOINT_TYPE);
  s.send(ack(eds, names(cds)));
  const lds = await s.next(LISTENER_TYPE);
  s.send(ack(lds));
  s.send({ type_url: ROUTE_TYPE, resource_names: [routeName] });
  const rds = await s.next(ROUTE_TYPE);
  s.send(ack(rds, [routeName]));
  return { cds, eds, rds };
}

test('canary finish: CDS drops web-v1 only after the routes without it were ACKed', async () => {
  await store.put('order', readDtab(CANARY));
  const s = recorder(ports.order);
  try {
    const { cds, rds } = await start(s, 'order/svc');
    assert.deepEqual(names(cds), [USERS, V1, V2]);
    assert.deepEqual(routed(rds), [USERS, V1, V2]);
    await store.put('order', readDtab(`${BASE}; /svc/web => ${V2}`));
    // Every cluster of the new routes is warm: they come at once.
    const rds2 = await s.next(ROUTE_TYPE);
    assert.deepEqual(routed(rds2), [USERS, V2]);
    await s.sync();
    s.send(ack(rds2, ['order/svc']));
    const cds2 = await s.next(CLUSTER_TYPE);
    assert.deepEqual(names(cds2), [USERS, V2], order(s.log));
    s.send(ack(cds2));
    assertRemovedAfterRoutes(s.log, V1);
    assert.ok(arrived(s.log, cds2) > answered(s.log, ROUTE_TYPE, (r) => r === rds2), order(s.log));
  } finally {
    s.close();
  }
});

test('new cluster: the routes to web-v3 come after its CDS was ACKed and its EDS sent and ACKed; web-v1 goes last', async () => {
  await store.put('order', readDtab(ONLY_V1));
  const s = recorder(ports.order);
  try {
    const { cds, eds } = await start(s, 'order/svc');
    assert.deepEqual(names(cds), [USERS, V1]);
    await store.put('order', readDtab(`${BASE}; /svc/web => ${V3}`));
    // web-v3 added, web-v1 kept: the routes Envoy has still send to it.
    const cds2 = await s.next(CLUSTER_TYPE);
    assert.deepEqual(names(cds2), [USERS, V1, V3]);
    await s.sync();
    s.send(ack(cds2));
    // Envoy asks for the new cluster's endpoints (ACKing the last EDS response as it does).
    s.send(ack(eds, names(cds2)));
    const eds2 = await s.next(ENDPOINT_TYPE);
    assert.deepEqual(names(eds2), [USERS, V1, V3]);
    await s.sync();
    s.send(ack(eds2, names(cds2)));
    const rds2 = await s.next(ROUTE_TYPE);
    assert.deepEqual(routed(rds2), [USERS, V3]);
    await s.sync();
    s.send(ack(rds2, ['order/svc']));
    const cds3 = await s.next(CLUSTER_TYPE);
    assert.deepEqual(names(cds3), [USERS, V3]);
    s.send(ack(cds3));

    const at = arrived(s.log, rds2);
    const cdsAcked = answered(s.log, CLUSTER_TYPE, (r) => names(r).includes(V3));
    const edsSent = s.log.findIndex((e) => e.dir === 'in' && e.r.type_url === ENDPOINT_TYPE && names(e.r).includes(V3));
    const edsAcked = answered(s.log, ENDPOINT_TYPE, (r) => names(r).includes(V3));
    assert.ok(cdsAcked >= 0 && cdsAcked < at, `routes to web-v3 before its CDS was ACKed: ${order(s.log)}`);
    assert.ok(edsSent >= 0 && edsSent < at, `routes to web-v3 before its EDS: ${order(s.log)}`);
    assert.ok(edsAcked >= 0 && edsAcked < at, `routes to web-v3 before its EDS was ACKed: ${order(s.log)}`);
    // No response routed to web-v3 before that.
    assert.deepEqual(s.log.slice(0, at).filter((e) => e.dir === 'in' && e.r.type_url === ROUTE_TYPE && routed(e.r).includes(V3)), []);
    assertRemovedAfterRoutes(s.log, V1);
  } finally {
    s.close();
  }
});

test('new cluster whose endpoints the client never asks for: the routes still come, after the CDS ACK, within the bounded wait', async () => {
  await store.put('bounded', readDtab(ONLY_V1));
  const s = recorder(ports.bounded);
  try {
    await start(s, 'bounded/svc');
    await store.put('bounded', readDtab(`${BASE}; /svc/web => 1 * ${V1} & 1 * ${V3}`));
    const cds2 = await s.next(CLUSTER_TYPE);
    assert.deepEqual(names(cds2), [USERS, V1, V3]);
    await s.sync();
    s.send(ack(cds2));
    // No EDS request naming web-v3.
    const rds2 = await s.next(ROUTE_TYPE, 5000);
    assert.deepEqual(routed(rds2), [USERS, V1, V3]);
    assert.ok(answered(s.log, CLUSTER_TYPE, (r) => r === cds2) < arrived(s.log, rds2), order(s.log));
    assert.deepEqual(s.log.filter((e) => e.dir === 'in' && e.r.type_url === ENDPOINT_TYPE && names(e.r).includes(V3)), []);
  } finally {
    s.close();
  }
});

test('a NACKed CDS does not wedge the routes (they come after the bounded wait); a NACKed RDS keeps its clusters until later routes are ACKed', async () => {
  await store.put('bounded', readDtab(ONLY_V1));
  const s = recorder(ports.bounded);
  try {
    await start(s, 'bounded/svc');
    await store.put('bounded', readDtab(`${BASE}; /svc/web => ${V2}`));
    const cds2 = await s.next(CLUSTER_TYPE);
    assert.deepEqual(names(cds2), [USERS, V1, V2]);
    await s.sync();
    s.send({ ...ack(cds2), error_detail: { code: 3, message: 'cluster refused' } });
    const rds2 = await s.next(ROUTE_TYPE, 5000);
    assert.deepEqual(routed(rds2), [USERS, V2]);
    assert.ok(answered(s.log, CLUSTER_TYPE, (r) => r === cds2, true) < arrived(s.log, rds2), order(s.log));
    // Envoy refuses these routes too: it keeps routing to web-v1, so web-v1 stays.
    await s.sync();
    s.send({ ...ack(rds2, ['bounded/svc']), error_detail: { code: 3, message: 'route refused' } });
    await store.put('bounded', readDtab(`${BASE}; /svc/web => ${V2}; /svc/shop => ${USERS}`));
    const rds3 = await s.next(ROUTE_TYPE, 5000);
    assert.deepEqual(routed(rds3), [USERS, V2]);
    await s.sync();
    s.send(ack(rds3, ['bounded/svc']));
    const cds3 = await s.next(CLUSTER_TYPE);
    assert.deepEqual(names(cds3), [USERS, V2]);
    assertRemovedAfterRoutes(s.log, V1);
    assert.ok(arrived(s.log, cds3) > answered(s.log, ROUTE_TYPE, (r) => r === rds3), order(s.log));
  } finally {
    s.close();
  }
});
