/**
 * namerd's io.meshwork.xds interface steering an Envoy proxy (its `envoy` config), through a
 * raw ADS client that behaves as Envoy does (wildcard LDS and CDS, then RDS for the listener's
 * route config name, then EDS for the clusters, ACKing each) and that is built from Envoy's
 * OWN protos (deps/ of @grpc/grpc-js-xds), not Meshwork's: every resource is decoded from the
 * wire bytes with Envoy's types and checked against the protoc-gen-validate rules Envoy
 * enforces. No Envoy binary runs here.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createNamers } from '../../src/namers/registry.js';
import { readDtab, readPath } from '../../src/naming/index.js';
import { createStore } from '../../src/namerd/stores/registry.js';
import { Namespaces } from '../../src/namerd/namespaces.js';
import { XdsServer } from '../../src/namerd/xds/server.js';
import { EnvoyRoutes, type EnvoyRoutesState } from '../../src/namerd/xds/envoy-routes.js';
import { Activity } from '../../src/naming/activity.js';
import { leaf, type NameTree } from '../../src/naming/name-tree.js';
import { inetAddr } from '../router/support.js';
import type { BoundName } from '../../src/naming/contracts.js';
import type { ConfiguredNamers } from '../../src/naming/namer-ops.js';
import { Path } from '../../src/naming/path.js';
import { CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, ROUTE_TYPE, dtabServiceNames, envoyServiceNames } from '../../src/namerd/xds/resources.js';
import YAML from 'yaml';
import { envoyAdsClient, envoyViolations, responsesByType, unknownEnvoyFields, type EnvoyAdsClient, type EnvoyResponse } from './envoy-protos.js';

const HCM_TYPE = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
const ROUTER_TYPE = 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router';

const dir = mkdtempSync(join(tmpdir(), 'namerd-xds-envoy-'));
function put(name: string, text: string): void {
  writeFileSync(join(dir, `.${name}.tmp`), text);
  renameSync(join(dir, `.${name}.tmp`), join(dir, name));
}
put('web-v1', '127.0.0.1 8081\n');
put('web-v2', '127.0.0.1 8082\n127.0.0.2 8082\n');
put('web-v3', '127.0.0.1 8083\n');
put('users', '127.0.0.1 8090\n');
put('new', '127.0.0.1 8100\n');

const BASE = '/svc => /#/io.l5d.fs';
const CANARY = `${BASE}; /svc/web => 3 * /#/io.l5d.fs/web-v1 & 1 * /#/io.l5d.fs/web-v2`;
const store = createStore({ kind: 'io.l5d.inMemory', namespaces: { default: CANARY } });
const namers = createNamers([{ kind: 'io.l5d.fs', rootDir: dir, prefix: '/io.l5d.fs' }] as never, { file: 't.yaml', readPath });
const namespaces = new Namespaces(store, namers);
const server = new XdsServer(namespaces, {
  ip: '127.0.0.1',
  port: 0,
  prefix: readPath('/svc'),
  namespace: 'default',
  // `ghost` is configured but binds to nothing (no such file): it answers 503 itself.
  envoy: { listeners: [{ port: 4140 }, { port: 9901, ip: '127.0.0.1', name: 'internal' }], services: ['users', 'ghost'] },
});
const port = await server.listen();
const clients: EnvoyAdsClient[] = [];

after(async () => {
  for (const c of clients) c.close();
  await server.close();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Every resource is one Envoy's types decoded (it has their `@type`) and Envoy would accept. */
function assertEnvoyAccepts(r: EnvoyResponse): void {
  for (const res of r.resources) {
    assert.equal(res['@type'], r.type_url, `a resource of ${r.type_url} that Envoy's types did not decode: ${JSON.stringify(res)}`);
    const { violations, unchecked } = envoyViolations(res);
    assert.deepEqual(violations, [], `Envoy's validation rules refuse ${JSON.stringify(res)}`);
    assert.deepEqual(unchecked, [], 'validation rules this test does not check');
  }
}

/** An Envoy-like ADS stream: responses by type, bounded waits. */
function envoyStream(): { send(r: Record<string, unknown>): void; next(type: string, ms?: number): Promise<EnvoyResponse>; none(ms: number): Promise<void>; close(): void } {
  const c = envoyAdsClient(`127.0.0.1:${port}`);
  clients.push(c);
  const call = c.StreamAggregatedResources();
  const { queue, next } = responsesByType(call);
  return {
    send: (r) => call.write({ node: { id: 'envoy-test', cluster: 'edge' }, ...r }),
    next: (type, ms) =>
      next(type, ms).then((r) => {
        assertEnvoyAccepts(r);
        return r;
      }),
    none: async (ms) => {
      await new Promise((r) => setTimeout(r, ms));
      assert.deepEqual(queue.map((q) => `${q.type_url} ${q.version_info}`), []);
    },
    close: () => call.end(),
  };
}

const ack = (r: EnvoyResponse, names: string[] = []): Record<string, unknown> => ({ type_url: r.type_url, resource_names: names, version_info: r.version_info, response_nonce: r.nonce });
const names = (r: EnvoyResponse, key = 'name'): string[] => r.resources.map((x) => x[key] as string).sort();
type Vh = { name: string; domains: string[]; routes: { match: unknown; route?: unknown; direct_response?: unknown }[] };
const vhosts = (r: EnvoyResponse): Vh[] => r.resources[0]!['virtual_hosts'] as Vh[];
const endpointsOf = (cla: Record<string, unknown>): string[] =>
  ((cla['endpoints'] as { lb_endpoints: { endpoint: { address: { socket_address: { address: string; port_value: number } } } }[] }[] | undefined) ?? [])
    .flatMap((l) => l.lb_endpoints.map((e) => `${e.endpoint.address.socket_address.address}:${e.endpoint.address.socket_address.port_value}`))
    .sort();

test('service names: the configured ones plus the dtab\'s literal names under the prefix, sorted, once each regardless of case', () => {
  const d = readDtab('/svc => /#/io.l5d.fs; /svc/web => /a; /svc/*/x => /b; /svc/* => /c; /svc/a/b => /d; /other/x => /e; /svc/Web => /f; /svc/web\\x3a80 => /g; /svc/users => /h');
  assert.deepEqual(dtabServiceNames(d, readPath('/svc')), ['web', 'Web', 'users']);
  assert.deepEqual(envoyServiceNames(['zeta', 'users', 'bad name'], dtabServiceNames(d, readPath('/svc'))), ['Web', 'users', 'zeta']);
});

test('Envoy: wildcard LDS and CDS, RDS by the listener\'s name, EDS; dtab writes update routes and clusters; a NACK is not answered with the same thing', async () => {
  const s = envoyStream();
  try {
    // Envoy starts with wildcard CDS and LDS (empty resource_names).
    s.send({ type_url: CLUSTER_TYPE, resource_names: [] });
    s.send({ type_url: LISTENER_TYPE, resource_names: [] });
    const [cds, lds] = [await s.next(CLUSTER_TYPE), await s.next(LISTENER_TYPE)];

    assert.deepEqual(names(lds), ['http-4140', 'internal']);
    const listener = lds.resources.find((l) => l['name'] === 'http-4140')!;
    assert.deepEqual(listener, {
      '@type': LISTENER_TYPE,
      name: 'http-4140',
      address: { socket_address: { address: '0.0.0.0', port_value: 4140 } },
      filter_chains: [
        {
          filters: [
            {
              name: 'envoy.filters.network.http_connection_manager',
              typed_config: {
                '@type': HCM_TYPE,
                stat_prefix: 'http-4140',
                rds: { config_source: { ads: {}, resource_api_version: 'V3' }, route_config_name: 'default/svc' },
                http_filters: [{ name: 'envoy.filters.http.router', typed_config: { '@type': ROUTER_TYPE } }],
              },
            },
          ],
        },
      ],
    });
    assert.deepEqual((lds.resources.find((l) => l['name'] === 'internal')!['address'] as unknown), { socket_address: { address: '127.0.0.1', port_value: 9901 } });
    const routeName = ((listener['filter_chains'] as { filters: { typed_config: { rds: { route_config_name: string } } }[] }[])[0]!.filters[0]!.typed_config.rds.route_config_name);

    assert.deepEqual(names(cds), ['/#/io.l5d.fs/users', '/#/io.l5d.fs/web-v1', '/#/io.l5d.fs/web-v2']);
    assert.deepEqual(cds.resources.find((c) => c['name'] === '/#/io.l5d.fs/web-v1'), {
      '@type': CLUSTER_TYPE,
      name: '/#/io.l5d.fs/web-v1',
      type: 'EDS',
      eds_cluster_config: { eds_config: { ads: {}, resource_api_version: 'V3' }, service_name: '/#/io.l5d.fs/web-v1' },
      connect_timeout: { seconds: '5' },
      lb_policy: 'ROUND_ROBIN',
    });
    s.send(ack(cds));
    s.send(ack(lds));

    // EDS for the clusters CDS gave: they warm, and then routes to them are sent.
    const clusterNames = names(cds);
    s.send({ type_url: ENDPOINT_TYPE, resource_names: clusterNames });
    const eds = await s.next(ENDPOINT_TYPE);
    assert.deepEqual(names(eds, 'cluster_name'), clusterNames);
    const cla = (r: EnvoyResponse, n: string): Record<string, unknown> => r.resources.find((x) => x['cluster_name'] === n)!;
    assert.deepEqual(endpointsOf(cla(eds, '/#/io.l5d.fs/web-v1')), ['127.0.0.1:8081']);
    assert.deepEqual(endpointsOf(cla(eds, '/#/io.l5d.fs/web-v2')), ['127.0.0.1:8082', '127.0.0.2:8082']);
    assert.deepEqual(endpointsOf(cla(eds, '/#/io.l5d.fs/users')), ['127.0.0.1:8090']);
    s.send(ack(eds, clusterNames));

    // RDS for the name the listener gave.
    s.send({ type_url: ROUTE_TYPE, resource_names: [routeName] });
    const rds = await s.next(ROUTE_TYPE);
    assert.equal(rds.resources.length, 1);
    assert.equal(rds.resources[0]!['name'], 'default/svc');
    assert.deepEqual(vhosts(rds), [
      {
        name: 'ghost',
        domains: ['ghost', 'ghost:*'],
        routes: [{ match: { prefix: '/' }, direct_response: { status: 503, body: { inline_string: '/svc/ghost binds to no cluster in namerd namespace default\n' } } }],
      },
      { name: 'users', domains: ['users', 'users:*'], routes: [{ match: { prefix: '/' }, route: { cluster: '/#/io.l5d.fs/users' } }] },
      {
        name: 'web',
        domains: ['web', 'web:*'],
        routes: [
          {
            match: { prefix: '/' },
            route: {
              weighted_clusters: {
                clusters: [
                  { name: '/#/io.l5d.fs/web-v1', weight: { value: 7500 } },
                  { name: '/#/io.l5d.fs/web-v2', weight: { value: 2500 } },
                ],
              },
            },
          },
        ],
      },
    ]);
    s.send(ack(rds, [routeName]));
    // All ACKed: nothing more until something changes.
    await s.none(300);

    // A dtab write moves the canary to v3: a new cluster set (web-v3 added, web-v2 kept while the
    // routes Envoy has use it), EDS for it, then the new route weights, then web-v2 removed.
    await store.put('default', readDtab(`${BASE}; /svc/web => 1 * /#/io.l5d.fs/web-v1 & 1 * /#/io.l5d.fs/web-v3`));
    const cds2 = await s.next(CLUSTER_TYPE);
    assert.notEqual(cds2.version_info, cds.version_info);
    assert.deepEqual(names(cds2), ['/#/io.l5d.fs/users', '/#/io.l5d.fs/web-v1', '/#/io.l5d.fs/web-v2', '/#/io.l5d.fs/web-v3']);
    s.send(ack(cds2));
    s.send({ type_url: ENDPOINT_TYPE, resource_names: names(cds2), version_info: eds.version_info, response_nonce: eds.nonce });
    const eds2 = await s.next(ENDPOINT_TYPE);
    assert.deepEqual(names(eds2, 'cluster_name'), names(cds2));
    assert.deepEqual(endpointsOf(cla(eds2, '/#/io.l5d.fs/web-v3')), ['127.0.0.1:8083']);
    s.send(ack(eds2, names(cds2)));
    const rds2 = await s.next(ROUTE_TYPE);
    assert.notEqual(rds2.version_info, rds.version_info);
    assert.deepEqual(vhosts(rds2).find((v) => v.name === 'web')!.routes[0]!.route, {
      weighted_clusters: { clusters: [{ name: '/#/io.l5d.fs/web-v1', weight: { value: 5000 } }, { name: '/#/io.l5d.fs/web-v3', weight: { value: 5000 } }] },
    });
    s.send(ack(rds2, [routeName]));
    const cds2b = await s.next(CLUSTER_TYPE);
    assert.deepEqual(names(cds2b), ['/#/io.l5d.fs/users', '/#/io.l5d.fs/web-v1', '/#/io.l5d.fs/web-v3']);
    s.send(ack(cds2b));
    s.send(ack(eds2, names(cds2b)));
    assert.deepEqual(names(await s.next(ENDPOINT_TYPE), 'cluster_name'), names(cds2b));

    // A dtab naming a new service adds its cluster, then its virtual host.
    await store.put('default', readDtab(`${BASE}; /svc/web => 1 * /#/io.l5d.fs/web-v1 & 1 * /#/io.l5d.fs/web-v3; /svc/shop => /#/io.l5d.fs/new`));
    const cds3 = await s.next(CLUSTER_TYPE);
    assert.deepEqual(names(cds3), ['/#/io.l5d.fs/new', '/#/io.l5d.fs/users', '/#/io.l5d.fs/web-v1', '/#/io.l5d.fs/web-v3']);
    s.send(ack(cds3));
    s.send({ type_url: ENDPOINT_TYPE, resource_names: names(cds3) });
    const eds3 = await s.next(ENDPOINT_TYPE);
    assert.deepEqual(names(eds3, 'cluster_name'), names(cds3));
    s.send(ack(eds3, names(cds3)));
    const rds3 = await s.next(ROUTE_TYPE);
    assert.deepEqual(vhosts(rds3).map((v) => v.name), ['ghost', 'shop', 'users', 'web']);
    assert.deepEqual(vhosts(rds3).find((v) => v.name === 'shop'), { name: 'shop', domains: ['shop', 'shop:*'], routes: [{ match: { prefix: '/' }, route: { cluster: '/#/io.l5d.fs/new' } }] });

    // Envoy NACKs the route configuration: nothing is sent again until something changes.
    const nacks = server.nacks;
    s.send({ type_url: ROUTE_TYPE, resource_names: [routeName], version_info: rds2.version_info, response_nonce: rds3.nonce, error_detail: { code: 3, message: 'route refused' } });
    await s.none(400);
    assert.equal(server.nacks, nacks + 1);
    assert.match(server.lastNack, /route refused/);
    // ...and then it is.
    await store.put('default', readDtab(`${BASE}; /svc/web => /#/io.l5d.fs/web-v1; /svc/shop => /#/io.l5d.fs/new`));
    const rds4 = await s.next(ROUTE_TYPE);
    assert.deepEqual(vhosts(rds4).find((v) => v.name === 'web')!.routes[0]!.route, { cluster: '/#/io.l5d.fs/web-v1' });
    assert.notEqual(rds4.version_info, rds3.version_info);
  } finally {
    s.close();
    await store.put('default', readDtab(CANARY));
  }
});

test('one server, one stream or two: a named LDS request gets its API listener, a wildcard one the Envoy listeners', async () => {
  const proxyless = envoyStream();
  const envoy = envoyStream();
  const mixed = envoyStream();
  try {
    proxyless.send({ type_url: LISTENER_TYPE, resource_names: ['web'] });
    envoy.send({ type_url: LISTENER_TYPE, resource_names: [] });
    mixed.send({ type_url: LISTENER_TYPE, resource_names: ['*', 'web:8080'] });
    const [p, e, m] = await Promise.all([proxyless.next(LISTENER_TYPE), envoy.next(LISTENER_TYPE), mixed.next(LISTENER_TYPE)]);
    assert.deepEqual(names(p), ['web']);
    const api = (p.resources[0]!['api_listener'] as { api_listener: Record<string, unknown> }).api_listener;
    assert.equal(api['@type'], HCM_TYPE);
    assert.equal(p.resources[0]!['address'], undefined);
    assert.deepEqual(names(e), ['http-4140', 'internal']);
    assert.deepEqual(names(m), ['http-4140', 'internal', 'web:8080']);
    // The proxyless stream naming more names later is not turned into a wildcard by it.
    proxyless.send({ ...ack(p, ['web', 'users']) });
    assert.deepEqual(names(await proxyless.next(LISTENER_TYPE)), ['users', 'web']);
    // Once names were sent, an empty list unsubscribes everything (no longer a wildcard).
    proxyless.send({ type_url: LISTENER_TYPE, resource_names: [], response_nonce: '' });
    assert.deepEqual(names(await proxyless.next(LISTENER_TYPE)), []);
    // Dropping `*` leaves only the name.
    mixed.send({ ...ack(m, ['web:8080']) });
    assert.deepEqual(names(await mixed.next(LISTENER_TYPE)), ['web:8080']);
  } finally {
    proxyless.close();
    envoy.close();
    mixed.close();
  }
});

test('without envoy config, wildcard LDS and CDS are answered empty and RDS has nothing', async () => {
  const plain = new XdsServer(namespaces, { ip: '127.0.0.1', port: 0, prefix: readPath('/svc'), namespace: 'default' });
  const p = await plain.listen();
  const c = envoyAdsClient(`127.0.0.1:${p}`);
  const call = c.StreamAggregatedResources();
  const got: EnvoyResponse[] = [];
  call.on('data', (r: EnvoyResponse) => got.push(r));
  call.on('error', () => undefined);
  try {
    call.write({ type_url: LISTENER_TYPE, resource_names: [] });
    call.write({ type_url: CLUSTER_TYPE, resource_names: [] });
    call.write({ type_url: ROUTE_TYPE, resource_names: ['default/svc'] });
    for (let i = 0; i < 150 && got.length < 3; i++) await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(got.map((r) => [r.type_url, (r.resources ?? []).length]).sort(), [[CLUSTER_TYPE, 0], [LISTENER_TYPE, 0], [ROUTE_TYPE, 0]].sort());
  } finally {
    call.end();
    c.close();
    await plain.close();
  }
});

test('the README\'s Envoy bootstrap uses only fields and enum values of Envoy\'s own Bootstrap', () => {
  const readme = readFileSync(join(process.cwd(), 'README.md'), 'utf8');
  const block = /```yaml\n(node: [^\n]*\ndynamic_resources:[\s\S]*?)```/.exec(readme);
  assert.ok(block !== null, 'the README has an Envoy bootstrap');
  const bootstrap = YAML.parse(block[1]!) as Record<string, unknown>;
  assert.deepEqual(Object.keys(bootstrap), ['node', 'dynamic_resources', 'static_resources']);
  assert.deepEqual(
    unknownEnvoyFields('envoy.config.bootstrap.v3.Bootstrap', bootstrap, ['envoy/config/bootstrap/v3/bootstrap.proto', 'envoy/extensions/upstreams/http/v3/http_protocol_options.proto']),
    [],
  );
  // The typo check itself can fail.
  assert.deepEqual(unknownEnvoyFields('envoy.config.bootstrap.v3.Bootstrap', { dynamic_resources: { lds_config: { ads: {}, resource_api_version: 'V4' }, cds: {} } }, ['envoy/config/bootstrap/v3/bootstrap.proto']), [
    'dynamic_resources.lds_config.resource_api_version: V4 is no .envoy.config.core.v3.ApiVersion value',
    'dynamic_resources.cds: no such field in .envoy.config.bootstrap.v3.Bootstrap.DynamicResources',
  ]);
});

test('Envoy routes: a new name that has not resolved holds the routes back for the settle time only, then joins when it resolves', async () => {
  // `/#/ctl/<name>` answers only when the test says so.
  const acts = new Map<string, ReturnType<typeof Activity.mutable<NameTree<BoundName>>>>();
  const act = (k: string) => acts.get(k) ?? (acts.set(k, Activity.mutable<NameTree<BoundName>>()), acts.get(k)!);
  const prefix = readPath('/#/ctl');
  const configured = { prefix, kind: 'ctl', namer: { lookup: (p: Path) => act(p.show()) } } as unknown as ConfiguredNamers['configured'][number];
  const ctlStore = createStore({ kind: 'io.l5d.inMemory', namespaces: { default: '/svc => /#/ctl; /svc/fast => /#/ctl/fast; /svc/slow => /#/ctl/slow' } });
  const ns = new Namespaces(ctlStore, { ...createNamers([] as never, { file: 't.yaml', readPath }), configured: [configured] });
  const routes = new EnvoyRoutes(ns, { prefix: readPath('/svc'), namespace: 'default', services: [], name: 'default/svc', settleMs: 300 });
  const states: { at: number; hosts: string[] }[] = [];
  const t0 = Date.now();
  const sub = routes.subscribe((st: EnvoyRoutesState) => states.push({ at: Date.now() - t0, hosts: (st.route['virtual_hosts'] as { name: string }[]).map((v) => v.name) }));
  try {
    act('/fast').setValue(leaf({ id: prefix.concat(readPath('/fast')), addr: inetAddr(), residual: Path.empty }));
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(states.length, 0, 'published before the slow name settled');
    for (let i = 0; i < 50 && states.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(states.map((x) => x.hosts), [['fast']]);
    assert.ok(states[0]!.at >= 250, `published after ${states[0]!.at} ms`);
    act('/slow').setValue(leaf({ id: prefix.concat(readPath('/slow')), addr: inetAddr(), residual: Path.empty }));
    assert.deepEqual(states.map((x) => x.hosts), [['fast'], ['fast', 'slow']]);
    assert.deepEqual(routes.names(), ['fast', 'slow']);
  } finally {
    sub.close();
    routes.close();
    await ctlStore.close();
  }
});
