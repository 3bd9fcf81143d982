/**
 * namerd's io.meshwork.xds interface through a raw ADS stream (grpc-js and Meshwork's own
 * proto/xds/): what each resource type carries, the state-of-the-world protocol (ACK, NACK,
 * stale nonces, names added and dropped) and the pushes a dtab write or an endpoint file change
 * makes. test/e2e/xds-grpc.test.ts runs a real proxyless gRPC client against it.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, renameSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import protobuf from 'protobufjs';
import { createNamers } from '../../src/namers/registry.js';
import { readDtab, readPath } from '../../src/naming/index.js';
import { createStore } from '../../src/namerd/stores/registry.js';
import { Namespaces } from '../../src/namerd/namespaces.js';
import { protoFile } from '../../src/namerd/proto-file.js';
import { XdsServer, xdsService, type DiscoveryRequestMsg, type XdsServerOptions } from '../../src/namerd/xds/server.js';
import { CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, ROUTE_TYPE, clusterShares, endpointResource, listenerHost } from '../../src/namerd/xds/resources.js';
import { alt, leaf, NEG, union, weighted, type NameTree } from '../../src/naming/name-tree.js';
import { Activity, type MutableActivity } from '../../src/naming/activity.js';
import { MutableVar } from '../../src/naming/var.js';
import { ADDR_PENDING, type Addr } from '../../src/naming/addr.js';
import type { BoundName } from '../../src/naming/contracts.js';
import type { ConfiguredNamers } from '../../src/naming/namer-ops.js';
import { Path } from '../../src/naming/path.js';
import { createRequire, syncBuiltinESMExports } from 'node:module';
import * as net from 'node:net';
import { bound, inetAddr } from '../router/support.js';
import { makeTestCerts } from '../support/certs.js';
import { MetricsRegistry } from '../../src/telemetry/metrics-registry.js';

const dir = mkdtempSync(join(tmpdir(), 'namerd-xds-'));
writeFileSync(join(dir, 'web'), '127.0.0.1 8080\n');
const store = createStore({ kind: 'io.l5d.inMemory', namespaces: { default: '/svc => /#/io.l5d.fs; /svc/api => /$/inet/127.0.0.9/9000' } });
const namers = createNamers([{ kind: 'io.l5d.fs', rootDir: dir, prefix: '/io.l5d.fs' }] as never, { file: 't.yaml', readPath });
const namespaces = new Namespaces(store, namers);
const metrics = new MetricsRegistry();
const server = new XdsServer(namespaces, { ip: '127.0.0.1', port: 0, prefix: readPath('/svc'), namespace: 'default', metrics });
const port = await server.listen();
const { AggregatedDiscoveryService } = xdsService();
const client = new AggregatedDiscoveryService(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as unknown as grpc.Client & {
  StreamAggregatedResources(): grpc.ClientDuplexStream<DiscoveryRequestMsg, RawResponse>;
};

after(async () => {
  client.close();
  await server.close();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Replaces an endpoint file at once. */
function put(name: string, text: string): void {
  writeFileSync(join(dir, `.${name}.tmp`), text);
  renameSync(join(dir, `.${name}.tmp`), join(dir, name));
}

/** The resource types, to decode the Anys of a response (grpc-js leaves them as bytes). */
const types = new protobuf.Root();
types.resolvePath = (_origin, target) => (target.startsWith('google/') ? target : join(protoFile(''), target));
types.loadSync(['discovery', 'listener', 'http', 'router', 'route', 'cluster', 'endpoint'].map((f) => `xds/${f}.proto`), { keepCase: true });
type RawResponse = { version_info: string; resources: { type_url: string; value: Buffer }[]; type_url: string; nonce: string };
type Decoded = { version: string; nonce: string; type: string; resources: Record<string, unknown>[] };
function decodeAny(typeUrl: string, value: Buffer): Record<string, unknown> {
  const t = types.lookupType(typeUrl.slice(typeUrl.lastIndexOf('/') + 1));
  return t.toObject(t.decode(value), { enums: String, longs: String, defaults: false, oneofs: false }) as Record<string, unknown>;
}

function decode(r: RawResponse): Decoded {
  return { version: r.version_info, nonce: r.nonce, type: r.type_url, resources: (r.resources ?? []).map((a) => decodeAny(a.type_url, a.value)) };
}

/** An ADS stream: send requests, read the next response (bounded wait), or see that none comes. */
function ads(on: typeof client = client): { send(r: DiscoveryRequestMsg): void; next(ms?: number): Promise<Decoded>; none(ms: number): Promise<void>; close(): void } {
  const call = on.StreamAggregatedResources();
  const queue: Decoded[] = [];
  const waiters: ((d: Decoded) => void)[] = [];
  call.on('data', (r: RawResponse) => {
    const d = decode(r);
    const w = waiters.shift();
    if (w) w(d);
    else queue.push(d);
  });
  call.on('error', () => undefined);
  return {
    send: (r) => call.write(r),
    next: (ms = 3000) =>
      new Promise((resolve, reject) => {
        const q = queue.shift();
        if (q) return resolve(q);
        const t = setTimeout(() => reject(new Error(`no response in ${ms} ms`)), ms);
        waiters.push((d) => {
          clearTimeout(t);
          resolve(d);
        });
      }),
    none: async (ms) => {
      await new Promise((r) => setTimeout(r, ms));
      assert.deepEqual(queue.map((d) => `${d.type} ${d.version}`), []);
    },
    close: () => call.end(),
  };
}

const NO_ADDR = inetAddr();
const b = (id: string) => leaf(bound(id, NO_ADDR));

test('clusterShares: a leaf takes all, a Union splits by weight, an Alt takes its first branch that binds', () => {
  assert.deepEqual([...clusterShares(b('/#/fs/v1'))], [['/#/fs/v1', 1]]);
  assert.deepEqual([...clusterShares(union(weighted(9, b('/#/fs/v1')), weighted(1, b('/#/fs/v2'))))], [['/#/fs/v1', 0.9], ['/#/fs/v2', 0.1]]);
  assert.deepEqual([...clusterShares(alt(NEG, b('/#/fs/v2'), b('/#/fs/v1')))], [['/#/fs/v2', 1]]);
  // Nested: half to v1, the other half split 3:1 between v2 and v3; the same id twice adds up.
  const nested = union(weighted(1, b('/#/fs/v1')), weighted(1, union(weighted(3, b('/#/fs/v2')), weighted(1, b('/#/fs/v1')))));
  assert.deepEqual([...clusterShares(nested)].sort(), [['/#/fs/v1', 0.625], ['/#/fs/v2', 0.375]]);
  assert.equal(clusterShares(NEG).size, 0);
  assert.equal(clusterShares(union(weighted(0, b('/#/fs/v1')), weighted(0, b('/#/fs/v2')))).size, 0);
  assert.deepEqual(['web', 'web:50051', '[::1]:80', 'a.b.svc:8080', 'host:name'].map(listenerHost), ['web', 'web', '::1', 'a.b.svc', 'host:name']);
});

test('LDS: a listener per name that binds, its route inline; a name that does not bind is left out', async () => {
  const s = ads();
  try {
    s.send({ node: { id: 't' }, type_url: LISTENER_TYPE, resource_names: ['web', 'api:9000', 'nosuch.thing'] });
    // nosuch.thing binds /#/io.l5d.fs/nosuch.thing, a file that does not exist: neg, so no listener.
    const r = await s.next();
    assert.equal(r.type, LISTENER_TYPE);
    assert.equal(r.nonce, '1');
    const byName = new Map(r.resources.map((l) => [l['name'] as string, l]));
    assert.deepEqual([...byName.keys()].sort(), ['api:9000', 'web']);
    const hcm = ((byName.get('web')!['api_listener'] as Record<string, unknown>)['api_listener'] as { type_url: string; value: Buffer });
    assert.equal(hcm.type_url, 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager');
    const m = decodeAny(hcm.type_url, hcm.value) as { route_config: { virtual_hosts: { domains: string[]; routes: { match: unknown; route: unknown }[] }[] }; http_filters: { name: string; typed_config: { type_url: string } }[] };
    assert.deepEqual(m.route_config.virtual_hosts[0]!.domains, ['*']);
    assert.deepEqual(m.route_config.virtual_hosts[0]!.routes[0]!.route, { cluster: '/#/io.l5d.fs/web' });
    assert.deepEqual(m.http_filters.map((f) => [f.name, f.typed_config.type_url]), [['envoy.filters.http.router', 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router']]);
    // ACK: nothing more until something changes.
    s.send({ type_url: LISTENER_TYPE, resource_names: ['web', 'api:9000', 'nosuch.thing'], version_info: r.version, response_nonce: r.nonce });
    await s.none(300);
    // A canary write: the web listener now splits 9:1.
    await store.put('default', readDtab('/svc => /#/io.l5d.fs; /svc/api => /$/inet/127.0.0.9/9000; /svc/web => 9 * /#/io.l5d.fs/web & 1 * /$/inet/127.0.0.1/8081'));
    const canary = await s.next();
    assert.notEqual(canary.version, r.version);
    const web = canary.resources.find((l) => l['name'] === 'web')!;
    const inner = (web['api_listener'] as { api_listener: { type_url: string; value: Buffer } }).api_listener;
    const route = (decodeAny(inner.type_url, inner.value) as { route_config: { virtual_hosts: { routes: { route: unknown }[] }[] } }).route_config.virtual_hosts[0]!.routes[0]!.route;
    assert.deepEqual(route, { weighted_clusters: { clusters: [{ name: '/#/io.l5d.fs/web', weight: { value: 9000 } }, { name: '/$/inet/127.0.0.1/8081', weight: { value: 1000 } }] } });
    // A NACK of that version is recorded and not answered with the same thing again.
    const nacksBefore = server.nacks;
    s.send({ type_url: LISTENER_TYPE, resource_names: ['web', 'api:9000', 'nosuch.thing'], version_info: r.version, response_nonce: canary.nonce, error_detail: { code: 3, message: 'weights refused' } });
    await s.none(300);
    assert.equal(server.nacks, nacksBefore + 1);
    assert.equal(metrics.counter(['xds', 'nacks']).value, nacksBefore + 1);
    assert.match(server.lastNack, /weights refused/);
    // A stale request (an older nonce) changes nothing, even with other names.
    s.send({ type_url: LISTENER_TYPE, resource_names: ['other'], response_nonce: r.nonce });
    await s.none(300);
    // Dropping a name: a response without it.
    s.send({ type_url: LISTENER_TYPE, resource_names: ['web'], version_info: canary.version, response_nonce: canary.nonce });
    const dropped = await s.next();
    assert.deepEqual(dropped.resources.map((l) => l['name']), ['web']);
  } finally {
    s.close();
    await store.put('default', readDtab('/svc => /#/io.l5d.fs; /svc/api => /$/inet/127.0.0.9/9000'));
  }
});

test('CDS and EDS: a cluster per bound id over EDS; its endpoints follow the endpoint file', async () => {
  const s = ads();
  try {
    s.send({ type_url: CLUSTER_TYPE, resource_names: ['/#/io.l5d.fs/web', 'not-an-id'] });
    const c = await s.next();
    assert.deepEqual(c.resources, [
      {
        name: '/#/io.l5d.fs/web',
        type: 'EDS',
        eds_cluster_config: { eds_config: { ads: {}, resource_api_version: 'V3' }, service_name: '/#/io.l5d.fs/web' },
        connect_timeout: { seconds: '5' },
        lb_policy: 'ROUND_ROBIN',
      },
    ]);
    s.send({ type_url: ENDPOINT_TYPE, resource_names: ['/#/io.l5d.fs/web'] });
    const e = await s.next();
    const endpoints = (r: Decoded): string[] =>
      ((r.resources[0]!['endpoints'] as { lb_endpoints: { endpoint: { address: { socket_address: { address: string; port_value: number } } } }[] }[] | undefined) ?? []).flatMap((l) =>
        l.lb_endpoints.map((x) => `${x.endpoint.address.socket_address.address}:${x.endpoint.address.socket_address.port_value}`),
      );
    assert.equal(e.resources[0]!['cluster_name'], '/#/io.l5d.fs/web');
    assert.deepEqual(endpoints(e), ['127.0.0.1:8080']);
    assert.deepEqual((e.resources[0]!['endpoints'] as { load_balancing_weight: unknown }[])[0]!.load_balancing_weight, { value: 1 });
    s.send({ type_url: ENDPOINT_TYPE, resource_names: ['/#/io.l5d.fs/web'], version_info: e.version, response_nonce: e.nonce });
    put('web', '127.0.0.1 8080\n127.0.0.1 8081\n');
    const e2 = await s.next(5000);
    assert.deepEqual(endpoints(e2).sort(), ['127.0.0.1:8080', '127.0.0.1:8081']);
    s.send({ type_url: ENDPOINT_TYPE, resource_names: ['/#/io.l5d.fs/web'], version_info: e2.version, response_nonce: e2.nonce });
    put('web', '');
    const e3 = await s.next(5000);
    assert.deepEqual(endpoints(e3), []);
  } finally {
    s.close();
    put('web', '127.0.0.1 8080\n');
  }
});

test('a type without resources here (RouteConfiguration) is answered empty; streams share one watch per resource', async () => {
  const s = ads();
  const t = ads();
  try {
    s.send({ type_url: ROUTE_TYPE, resource_names: ['web'] });
    assert.deepEqual((await s.next()).resources, [], 'route');
    s.send({ type_url: LISTENER_TYPE, resource_names: ['web'] });
    t.send({ type_url: LISTENER_TYPE, resource_names: ['web'] });
    const [a, c] = await Promise.all([s.next().catch((e: Error) => { throw new Error(`s: ${e.message}`); }), t.next().catch((e: Error) => { throw new Error(`t: ${e.message}`); })]);
    assert.deepEqual([a.resources.length, c.resources.length], [1, 1]);
    assert.equal(server.watches(), 1);
    assert.equal(metrics.flatJson()['xds/streams'], 2);
    s.close();
    t.close();
    for (let i = 0; i < 100 && server.watches() > 0; i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(server.watches(), 0);
  } finally {
    s.close();
    t.close();
  }
});

test('tls: the interface serves ADS over TLS to a client that trusts its CA, and nothing to a plaintext one', async () => {
  const certs = makeTestCerts();
  const tlsServer = new XdsServer(namespaces, {
    ip: '127.0.0.1',
    port: 0,
    prefix: readPath('/svc'),
    namespace: 'default',
    tls: { cert: readFileSync(certs.serverCert), key: readFileSync(certs.serverKey) },
  });
  const p = await tlsServer.listen();
  const secure = new AggregatedDiscoveryService(`127.0.0.1:${p}`, grpc.credentials.createSsl(readFileSync(certs.caCert))) as unknown as typeof client;
  const plain = new AggregatedDiscoveryService(`127.0.0.1:${p}`, grpc.credentials.createInsecure()) as unknown as typeof client;
  try {
    const got = await new Promise<RawResponse>((resolve, reject) => {
      const call = secure.StreamAggregatedResources();
      const t = setTimeout(() => reject(new Error('no response over TLS')), 3000);
      call.on('data', (r: RawResponse) => {
        clearTimeout(t);
        call.end();
        resolve(r);
      });
      call.on('error', () => undefined);
      call.write({ type_url: LISTENER_TYPE, resource_names: ['web'] });
    });
    assert.deepEqual(decode(got).resources.map((l) => l['name']), ['web']);
    const refused = await new Promise<string>((resolve) => {
      const call = plain.StreamAggregatedResources();
      call.on('data', () => resolve('answered'));
      call.on('error', (e: grpc.ServiceError) => resolve(grpc.status[e.code]));
      call.write({ type_url: LISTENER_TYPE, resource_names: ['web'] });
    });
    assert.equal(refused, 'UNAVAILABLE');
  } finally {
    secure.close();
    plain.close();
    await tlsServer.close();
    certs.cleanup();
  }
});

/** A namer under the test's control: `/#/ctl/<name>` binds as the test says. */
function ctlNamespaces(): { namespaces: Namespaces; bind(name: string): void; fail(name: string): void; addr(name: string, a: Addr): void; close(): Promise<void> } {
  const acts = new Map<string, MutableActivity<NameTree<BoundName>>>();
  const addrs = new Map<string, MutableVar<Addr>>();
  const prefix = readPath('/#/ctl');
  const act = (k: string): MutableActivity<NameTree<BoundName>> => {
    let a = acts.get(k);
    if (a === undefined) acts.set(k, (a = Activity.mutable<NameTree<BoundName>>()));
    return a;
  };
  const addrOf = (k: string): MutableVar<Addr> => {
    let a = addrs.get(k);
    if (a === undefined) addrs.set(k, (a = new MutableVar<Addr>(ADDR_PENDING)));
    return a;
  };
  const ctlStore = createStore({ kind: 'io.l5d.inMemory', namespaces: { default: '/svc => /#/ctl' } });
  const configured = { prefix, kind: 'ctl', namer: { lookup: (p: Path) => act(p.show()) } } as unknown as ConfiguredNamers['configured'][number];
  const ns = new Namespaces(ctlStore, { ...createNamers([] as never, { file: 't.yaml', readPath }), configured: [configured] });
  return {
    namespaces: ns,
    bind: (name) => act(`/${name}`).setValue(leaf({ id: prefix.concat(readPath(`/${name}`)), addr: addrOf(`/${name}`), residual: Path.empty })),
    fail: (name) => act(`/${name}`).setFailed(new Error('namer down')),
    addr: (name, a) => addrOf(`/${name}`).update(a),
    close: () => ctlStore.close(),
  };
}

async function ctlServer(ctl: ReturnType<typeof ctlNamespaces>, extra: Partial<XdsServerOptions> = {}): Promise<{ s: XdsServer; c: typeof client }> {
  const s = new XdsServer(ctl.namespaces, { ip: '127.0.0.1', port: 0, prefix: readPath('/svc'), namespace: 'default', ...extra });
  const p = await s.listen();
  return { s, c: new AggregatedDiscoveryService(`127.0.0.1:${p}`, grpc.credentials.createInsecure()) as unknown as typeof client };
}

test('a client reconnecting while its name\'s binding fails gets the listener it had, at once', async () => {
  const ctl = ctlNamespaces();
  const { s, c } = await ctlServer(ctl);
  try {
    ctl.bind('web');
    const first = ads(c);
    first.send({ type_url: LISTENER_TYPE, resource_names: ['web'] });
    assert.deepEqual((await first.next()).resources.map((l) => l['name']), ['web']);
    ctl.fail('web');
    first.close();
    for (let i = 0; i < 100 && s.watches() > 0; i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(s.watches(), 0);
    // Without the remembered listener the new watch waits SETTLE_MS, then leaves it out: deleted.
    const again = ads(c);
    again.send({ type_url: LISTENER_TYPE, resource_names: ['web'] });
    assert.deepEqual((await again.next(2000)).resources.map((l) => l['name']), ['web']);
    again.close();
  } finally {
    c.close();
    await s.close();
    await ctl.close();
  }
});

test('EDS: an address listed twice is sent once; host names are looked up again, a failed lookup keeps the last answer', async (t) => {
  const ctl = ctlNamespaces();
  const { s, c } = await ctlServer(ctl, { dnsRefreshMs: 100 });
  // DNS under the test's control: meshwork-test.invalid answers as `answers` says.
  let answers: string[] | Error = new Error('ENOTFOUND');
  const dns = createRequire(import.meta.url)('node:dns') as typeof import('node:dns');
  const real = dns.promises.lookup;
  dns.promises.lookup = (async (host: string, opts: unknown) => {
    if (host !== 'meshwork-test.invalid') return (real as (h: string, o: unknown) => Promise<unknown>)(host, opts);
    if (answers instanceof Error) throw answers;
    return answers.map((address) => ({ address, family: 4 }));
  }) as typeof real;
  syncBuiltinESMExports();
  t.after(() => {
    dns.promises.lookup = real;
    syncBuiltinESMExports();
  });
  const id = '/#/ctl/web';
  const s1 = ads(c);
  try {
    const endpoints = (r: Decoded): string[] =>
      ((r.resources[0]!['endpoints'] as { lb_endpoints: { endpoint: { address: { socket_address: { address: string; port_value: number } } } }[] }[] | undefined) ?? []).flatMap((l) =>
        l.lb_endpoints.map((x) => `${x.endpoint.address.socket_address.address}:${x.endpoint.address.socket_address.port_value}`),
      );
    const bound = (hosts: string[]): Addr => ({ type: 'bound', addrs: hosts.map((h) => ({ host: h.split(' ')[0]!, port: Number(h.split(' ')[1]), meta: {} })), meta: {} });
    ctl.bind('web');
    ctl.addr('web', bound(['127.0.0.1 8080', '127.0.0.1 8080', '127.0.0.2 8080']));
    s1.send({ type_url: ENDPOINT_TYPE, resource_names: [id] });
    let r = await s1.next();
    assert.deepEqual(endpoints(r), ['127.0.0.1:8080', '127.0.0.2:8080']);
    // A host name that does not resolve yet adds nothing...
    s1.send({ type_url: ENDPOINT_TYPE, resource_names: [id], version_info: r.version, response_nonce: r.nonce });
    ctl.addr('web', bound(['127.0.0.1 8080', 'meshwork-test.invalid 8080']));
    r = await s1.next();
    assert.deepEqual(endpoints(r), ['127.0.0.1:8080']);
    // ...until DNS answers, without any change from the namer.
    s1.send({ type_url: ENDPOINT_TYPE, resource_names: [id], version_info: r.version, response_nonce: r.nonce });
    answers = ['127.0.0.7', '127.0.0.1'];
    r = await s1.next(3000);
    assert.deepEqual(endpoints(r), ['127.0.0.1:8080', '127.0.0.7:8080']);
    // A failed lookup later keeps the last answer: nothing is sent.
    s1.send({ type_url: ENDPOINT_TYPE, resource_names: [id], version_info: r.version, response_nonce: r.nonce });
    answers = new Error('SERVFAIL');
    await s1.none(400);
  } finally {
    s1.close();
    c.close();
    await s.close();
    await ctl.close();
  }
});

test('a client that stops reading is not sent every change: the latest state goes out once it reads again', async () => {
  const ctl = ctlNamespaces();
  const { s, c } = await ctlServer(ctl);
  const id = '/#/ctl/web';
  const call = c.StreamAggregatedResources();
  const got: RawResponse[] = [];
  call.on('data', (r: RawResponse) => got.push(r));
  call.on('error', () => undefined);
  try {
    ctl.bind('web');
    const many = (n: number): Addr => ({ type: 'bound', addrs: Array.from({ length: 200 }, (_, i) => ({ host: `127.0.${n % 250}.${(i % 250) + 1}`, port: 8000 + i, meta: {} })), meta: {} });
    ctl.addr('web', many(0));
    call.write({ type_url: ENDPOINT_TYPE, resource_names: [id] });
    for (let i = 0; i < 100 && got.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
    call.pause();
    const before = s.responses;
    // Each change has its own turns of the event loop, so each would be a response of its own.
    for (let n = 1; n <= 400; n++) {
      ctl.addr('web', many(n));
      for (let k = 0; k < 3; k++) await new Promise((r) => setImmediate(r));
    }
    await new Promise((r) => setTimeout(r, 300));
    const sentWhilePaused = s.responses - before;
    assert.ok(sentWhilePaused < 100, `${sentWhilePaused} responses written to a client that reads nothing`);
    call.resume();
    const last = (): string => {
      const r = got[got.length - 1]!;
      const cla = decodeAny(r.resources[0]!.type_url, r.resources[0]!.value) as { endpoints: { lb_endpoints: { endpoint: { address: { socket_address: { address: string } } } }[] }[] };
      return cla.endpoints[0]!.lb_endpoints[0]!.endpoint.address.socket_address.address;
    };
    for (let i = 0; i < 200 && !(got.length > 0 && last() === '127.0.150.1'); i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(last(), '127.0.150.1'); // many(400): 400 % 250 = 150
  } finally {
    call.end();
    c.close();
    await s.close();
    await ctl.close();
  }
});

test('endpoint weights: Linkerd\'s relative weights times 100, sent only when every address has one', () => {
  const addr = (host: string, w?: number) => ({ host, port: 80, meta: w === undefined ? {} : { endpoint_addr_weight: w } });
  const weights = (r: Record<string, unknown>): unknown[] => (r['endpoints'] as { lb_endpoints: { load_balancing_weight?: { value: number } }[] }[])[0]!.lb_endpoints.map((e) => e.load_balancing_weight?.value);
  assert.deepEqual(weights(endpointResource('/#/x', [addr('127.0.0.1', 0.5), addr('127.0.0.2', 3)])), [50, 300]);
  assert.deepEqual(weights(endpointResource('/#/x', [addr('127.0.0.1', 0), addr('127.0.0.2', 1e9)])), [1, 1_000_000]);
  assert.deepEqual(weights(endpointResource('/#/x', [addr('127.0.0.1', 2), addr('127.0.0.2')])), [undefined, undefined]);
  assert.deepEqual(endpointResource('/#/x', [])['endpoints'], []);
});

test('keepalive: a client whose host vanishes (its connection goes silent, never closed) loses its stream and watches', async () => {
  const ctl = ctlNamespaces();
  const s = new XdsServer(ctl.namespaces, { ip: '127.0.0.1', port: 0, prefix: readPath('/svc'), namespace: 'default', keepalive: { timeMs: 200, timeoutMs: 200 } });
  const p = await s.listen();
  // A TCP relay that can go silent: it stops passing bytes both ways and closes nothing.
  const sockets: net.Socket[] = [];
  let silent = false;
  const relay = net.createServer((down) => {
    const up = net.connect(p, '127.0.0.1');
    sockets.push(down, up);
    down.on('data', (b) => void (silent || up.write(b)));
    up.on('data', (b) => void (silent || down.write(b)));
    down.on('error', () => undefined);
    up.on('error', () => undefined);
  });
  await new Promise<void>((r) => relay.listen(0, '127.0.0.1', r));
  const c = new AggregatedDiscoveryService(`127.0.0.1:${(relay.address() as net.AddressInfo).port}`, grpc.credentials.createInsecure()) as unknown as typeof client;
  const stream = ads(c);
  try {
    ctl.bind('web');
    stream.send({ type_url: LISTENER_TYPE, resource_names: ['web'] });
    assert.deepEqual((await stream.next()).resources.map((l) => l['name']), ['web']);
    assert.equal(s.watches(), 1);
    silent = true;
    const t0 = Date.now();
    for (let i = 0; i < 150 && s.watches() > 0; i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(s.watches(), 0, `the silent client still holds its watch after ${Date.now() - t0} ms`);
  } finally {
    c.close();
    for (const x of sockets) x.destroy();
    relay.close();
    await s.close();
    await ctl.close();
  }
});
