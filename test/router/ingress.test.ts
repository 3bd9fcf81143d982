import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { Path } from '../../src/naming/path.js';
import { K8sApi } from '../../src/namers/k8s/api.js';
import { IngressIdentifier, hostSansPort, matchIngress, readIngress, type IngressSpec } from '../../src/router/identifiers/ingress.js';
import { createIdentifier } from '../../src/router/identifiers/index.js';
import type { IdentifyRequest, IdentifyResult } from '../../src/router/identifiers/index.js';
import { PluginError } from '../../src/router/plugin-errors.js';
import { FakeK8s, startFakeK8s, type K8sObject } from '../support/fake-k8s.js';
import { linkerdYaml, startLinker } from '../support/linker.js';
import { request, upstream } from './support.js';

const SVC = Path.utf8('svc');

function show(r: IdentifyResult): string {
  return r.type === 'unidentified' ? `unidentified: ${r.reason}${r.fatal ? ' (fatal)' : ''}` : r.dst.show();
}

function req(url: string, host?: string): IdentifyRequest {
  return { method: 'GET', url, httpVersion: '1.1', header: (n) => (n === 'host' ? host : undefined) };
}

/** An extensions/v1beta1 Ingress (Linkerd 1.x's shape). */
function v1beta1(name: string, namespace: string | undefined, spec: Record<string, unknown>, annotations?: Record<string, string>): K8sObject {
  const metadata: K8sObject['metadata'] = { name, ...(namespace === undefined ? {} : { namespace }), ...(annotations === undefined ? {} : { annotations }) };
  return { apiVersion: 'extensions/v1beta1', kind: 'Ingress', metadata, spec };
}

const path = (p: string | undefined, serviceName: string, servicePort: number | string): Record<string, unknown> => ({ ...(p === undefined ? {} : { path: p }), backend: { serviceName, servicePort } });

function read(objs: readonly K8sObject[], opts: { cls?: string; ignoreDefault?: boolean } = {}, warnings: string[] = []): IngressSpec[] {
  const out: IngressSpec[] = [];
  for (const o of objs) {
    const s = readIngress(o, opts.cls ?? 'linkerd', opts.ignoreDefault ?? false, SVC, (m) => warnings.push(m));
    if (s !== undefined) out.push(s);
  }
  return out;
}

const match = (specs: readonly IngressSpec[], host: string | undefined, p: string): string => show(matchIngress(specs, host, p));

test("Linkerd's documented example: /testpath on any host is /svc/default/80/test", () => {
  const specs = read([v1beta1('my-first-ingress', 'default', { rules: [{ http: { paths: [path('/testpath', 'test', 80)] } }] }, { 'kubernetes.io/ingress.class': 'linkerd' })]);
  assert.equal(match(specs, 'localhost:4140', '/testpath'), '/svc/default/80/test');
  assert.equal(match(specs, undefined, '/testpath'), '/svc/default/80/test');
  // The path is a regular expression the whole request path must match.
  assert.equal(match(specs, 'localhost', '/testpath/more'), 'unidentified: no ingress rule matches');
  assert.equal(match(specs, 'localhost', '/other'), 'unidentified: no ingress rule matches');
});

test('rules: host without port and ignoring case, regex paths, rule order, then default backends in ingress order', () => {
  const specs = read([
    v1beta1('a', 'web', {
      backend: { serviceName: 'catchall-a', servicePort: 'http' },
      rules: [
        { host: 'Shop.Example.com', http: { paths: [path('/api/.*', 'api', 8080), path(undefined, 'shop', 'http')] } },
        { http: { paths: [path('/static/[a-z]+\\.css', 'assets', 80)] } },
      ],
    }),
    v1beta1('b', undefined, { backend: { serviceName: 'catchall-b', servicePort: 81 }, rules: [{ host: 'blog.example.com', http: { paths: [path('', 'blog', 80)] } }] }),
  ]);
  assert.equal(match(specs, 'shop.example.com:8443', '/api/v2/cart'), '/svc/web/8080/api');
  assert.equal(match(specs, 'SHOP.example.com', '/anything'), '/svc/web/http/shop');
  assert.equal(match(specs, 'other.example.com', '/static/site.css'), '/svc/web/80/assets');
  assert.equal(match(specs, 'other.example.com', '/static/site.js'), '/svc/web/http/catchall-a', "the first ingress's default backend");
  // An ingress without a namespace is in `default`; an empty path matches every path.
  assert.equal(match(specs, 'blog.example.com', '/2017/hello'), '/svc/default/80/blog');
  assert.equal(match(specs, '[::1]:80', '/'), '/svc/web/http/catchall-a');
  assert.equal(match(specs, 'a:b:c', '/'), 'unidentified: unable to parse the Host header (fatal)');
  const noDefaults = read([v1beta1('a', 'web', { backend: { serviceName: 'catchall', servicePort: 80 }, rules: [] })], { ignoreDefault: true });
  assert.equal(match(noDefaults, 'x', '/'), 'unidentified: no ingress rule matches');
});

test('ingress class: another class in the annotation (or spec.ingressClassName) is ignored; none means ours', () => {
  const specs = read([
    v1beta1('nginx', 'default', { backend: { serviceName: 'nginx-svc', servicePort: 80 } }, { 'kubernetes.io/ingress.class': 'nginx' }),
    { ...v1beta1('v1-other', 'default', {}), spec: { ingressClassName: 'traefik', defaultBackend: { service: { name: 'traefik-svc', port: { number: 80 } } } } },
    v1beta1('mine', 'default', { backend: { serviceName: 'mine', servicePort: 80 } }, { 'kubernetes.io/ingress.class': 'edge' }),
    v1beta1('unlabelled', 'default', { backend: { serviceName: 'unlabelled', servicePort: 80 } }),
  ], { cls: 'edge' });
  assert.deepEqual(specs.map((s) => s.name), ['mine', 'unlabelled']);
  assert.equal(match(specs, 'x', '/'), '/svc/default/80/mine');
});

test('networking.k8s.io/v1 shape: Exact and Prefix path types, named ports, wildcard hosts, resource backends skipped', () => {
  const warnings: string[] = [];
  const v1: K8sObject = {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'Ingress',
    metadata: { name: 'v1', namespace: 'shop' },
    spec: {
      rules: [
        {
          host: '*.example.com',
          http: {
            paths: [
              { path: '/exact', pathType: 'Exact', backend: { service: { name: 'exact', port: { number: 80 } } } },
              { path: '/foo/', pathType: 'Prefix', backend: { service: { name: 'foo', port: { name: 'http' } } } },
              { path: '/bucket', pathType: 'Prefix', backend: { resource: { apiGroup: 'k8s.example.com', kind: 'StorageBucket', name: 'static' } } },
              { path: '(', pathType: 'ImplementationSpecific', backend: { service: { name: 'broken', port: { number: 80 } } } },
            ],
          },
        },
      ],
    },
  };
  const specs = read([v1], {}, warnings);
  assert.equal(match(specs, 'a.example.com', '/exact'), '/svc/shop/80/exact');
  assert.equal(match(specs, 'a.example.com', '/exact/'), 'unidentified: no ingress rule matches');
  for (const p of ['/foo', '/foo/', '/foo/bar']) assert.equal(match(specs, 'a.example.com', p), '/svc/shop/http/foo', p);
  assert.equal(match(specs, 'a.example.com', '/foobar'), 'unidentified: no ingress rule matches');
  // A wildcard covers exactly one label.
  assert.equal(match(specs, 'example.com', '/exact'), 'unidentified: no ingress rule matches');
  assert.equal(match(specs, 'a.b.example.com', '/exact'), 'unidentified: no ingress rule matches');
  assert.equal(match(specs, '(', '('), 'unidentified: no ingress rule matches');
  assert.equal(warnings.length, 2, warnings.join('\n'));
  assert.match(warnings[0]!, /ingress shop\/v1: a path \/bucket without a service backend is skipped/);
  assert.match(warnings[1]!, /ingress shop\/v1: path "\(" is not a regular expression/);
});

test('hostSansPort: names, IPv4 and bracketed IPv6 with or without a port', () => {
  assert.equal(hostSansPort('Web:8080'), 'web');
  assert.equal(hostSansPort('10.0.0.1'), '10.0.0.1');
  assert.equal(hostSansPort('[::1]:4140'), '[::1]');
  assert.equal(hostSansPort('[::1]'), '[::1]');
  assert.equal(hostSansPort('[::1'), null);
  assert.equal(hostSansPort('::1'), null);
});

test('config errors name the key, the value found and what is allowed', () => {
  assert.throws(() => createIdentifier([{ kind: 'io.l5d.ingress', port: 70000 }], { dstPrefix: SVC }), (e: unknown) => e instanceof PluginError && e.key === 'port' && /must be between 1 and 65535, found 70000/.test(e.message));
  assert.throws(() => createIdentifier([{ kind: 'io.l5d.ingress', ignoreDefaultBackends: 'yes' }], { dstPrefix: SVC }), (e: unknown) => e instanceof PluginError && /ignoreDefaultBackends' must be true or false, found "yes"/.test(e.message));
  assert.throws(() => createIdentifier([{ kind: 'io.l5d.ingress', namespace: '' }], { dstPrefix: SVC }), (e: unknown) => e instanceof PluginError && /namespace' must be a non-empty string/.test(e.message));
});

// ---- against an in-test Kubernetes API server -----------------------------------------------

let k8s: FakeK8s;
before(async () => {
  k8s = await startFakeK8s();
});
after(() => k8s.stop());

/** Polls the identifier (10 ms apart, at most 2 s) until it answers `want`. */
async function until(id: { identify(r: IdentifyRequest): IdentifyResult }, r: IdentifyRequest, want: string): Promise<void> {
  let got = '';
  for (let i = 0; i < 200; i++) {
    got = show(id.identify(r));
    if (got === want) return;
    await new Promise((res) => setTimeout(res, 10));
  }
  assert.fail(`identifier answered ${JSON.stringify(got)}, wanted ${JSON.stringify(want)}`);
}

test('watching one namespace (networking.k8s.io/v1): not ready until listed, then follows ADDED, MODIFIED, DELETED and a 410 re-list', async () => {
  const v1 = (name: string, p: string, svc: string): K8sObject => ({
    apiVersion: 'networking.k8s.io/v1',
    kind: 'Ingress',
    metadata: { name },
    spec: { rules: [{ http: { paths: [{ path: p, pathType: 'Prefix', backend: { service: { name: svc, port: { number: 80 } } } }] } }] },
  });
  k8s.putObject('shop', 'ingresses', v1('cart', '/cart', 'cart-v1'));
  k8s.putObject('elsewhere', 'ingresses', v1('not-watched', '/other', 'other'));
  const id = new IngressIdentifier(new K8sApi(k8s.host, k8s.port), 'shop', 'linkerd', false, SVC, () => undefined);
  try {
    assert.match(show(id.identify(req('/cart', 'x'))), /^unidentified: ingress resources not read yet from the Kubernetes API at 127\.0\.0\.1:\d+$/);
    await id.ready(5000);
    assert.equal(show(id.identify(req('/cart/1', 'x'))), '/svc/shop/80/cart-v1', 'ready once the first list arrived');
    assert.equal(show(id.identify(req('/other', 'x'))), 'unidentified: no ingress rule matches', 'another namespace is not watched');
    k8s.putObject('shop', 'ingresses', v1('cart', '/cart', 'cart-v2'));
    await until(id, req('/cart', 'x'), '/svc/shop/80/cart-v2');
    k8s.putObject('shop', 'ingresses', v1('pay', '/pay', 'pay'));
    await until(id, req('/pay?x=1', 'x'), '/svc/shop/80/pay');
    k8s.deleteObject('shop', 'ingresses', 'cart');
    await until(id, req('/cart', 'x'), 'unidentified: no ingress rule matches');
    // History compacted and the watch dropped: the resumed watch gets 410 and lists again.
    k8s.compact();
    k8s.putObject('shop', 'ingresses', v1('cart', '/cart', 'cart-v3'));
    k8s.endWatches();
    await until(id, req('/cart', 'x'), '/svc/shop/80/cart-v3');
    assert.ok(k8s.requests.includes('GET /apis/networking.k8s.io/v1/namespaces/shop/ingresses'));
    assert.equal(k8s.requests.filter((r) => r.includes('extensions')).length, 0);
  } finally {
    id.close();
  }
});

test('all namespaces, on a server without networking.k8s.io/v1: extensions/v1beta1 as Linkerd 1.x read it', async () => {
  k8s.unserved.add('networking.k8s.io/v1');
  const id = new IngressIdentifier(new K8sApi(k8s.host, k8s.port), undefined, 'linkerd', false, SVC, () => undefined);
  try {
    k8s.putObject('team-a', 'ingresses', v1beta1('a', undefined, { rules: [{ host: 'a.example.com', http: { paths: [path('/.*', 'web', 'http')] } }] }));
    await until(id, req('/x', 'a.example.com'), '/svc/team-a/http/web');
    k8s.putObject('team-b', 'ingresses', v1beta1('b', undefined, { rules: [{ host: 'b.example.com', http: { paths: [path('/.*', 'web', 'http')] } }] }));
    await until(id, req('/x', 'b.example.com'), '/svc/team-b/http/web');
    assert.ok(k8s.requests.includes('GET /apis/networking.k8s.io/v1/ingresses'));
    assert.ok(k8s.requests.includes('GET /apis/extensions/v1beta1/ingresses'));
  } finally {
    id.close();
    k8s.unserved.clear();
    k8s.deleteObject('team-a', 'ingresses', 'a');
    k8s.deleteObject('team-b', 'ingresses', 'b');
  }
});

test('an unreachable API: requests are refused with the reason, and routing starts once it answers', async () => {
  const down = new FakeK8s();
  await down.start();
  const port = down.port;
  await down.stop();
  const logged: string[] = [];
  const id = new IngressIdentifier(new K8sApi('127.0.0.1', port), 'default', 'linkerd', false, SVC, (l) => logged.push(l));
  // Refused connections are retried with backoff; meanwhile every request gets the reason, and
  // readiness gives up after its timeout, saying so.
  const t0 = Date.now();
  await id.ready(150);
  assert.ok(Date.now() - t0 >= 140, 'ready waited for its timeout');
  assert.deepEqual(logged, ['io.l5d.ingress: no ingress list after 150 ms; serving (requests get 400 until it arrives)']);
  assert.equal(show(id.identify(req('/', 'x'))), `unidentified: ingress resources not read yet from the Kubernetes API at 127.0.0.1:${port}`);
  down.port = port;
  down.putObject('default', 'ingresses', v1beta1('late', 'default', { backend: { serviceName: 'late', servicePort: 80 } }));
  await down.start();
  try {
    await until(id, req('/', 'x'), '/svc/default/80/late');
  } finally {
    id.close();
    await down.stop();
  }
});

test('meshwork linkerd as an ingress controller: io.l5d.ingress names the request, io.l5d.k8s finds the pods', async (t) => {
  const up = await upstream((q, res) => res.end(`pod saw ${q.url}`));
  t.after(() => up.close());
  k8s.putObject('default', 'services', { kind: 'Service', apiVersion: 'v1', metadata: { name: 'test' }, spec: { ports: [{ name: 'http', port: 80, targetPort: 'web' }] } });
  k8s.putObject('default', 'endpoints', {
    kind: 'Endpoints',
    apiVersion: 'v1',
    metadata: { name: 'test' },
    subsets: [{ addresses: [{ ip: '127.0.0.1' }], ports: [{ name: 'web', port: up.port, protocol: 'TCP' }] }],
  });
  k8s.putObject('default', 'ingresses', v1beta1('my-first-ingress', 'default', { rules: [{ http: { paths: [path('/testpath', 'test', 80)] } }] }, { 'kubernetes.io/ingress.class': 'linkerd' }));
  const file = linkerdYaml(
    `admin: {ip: 127.0.0.1, port: 0}
namers:
- kind: io.l5d.k8s
  host: 127.0.0.1
  port: ${k8s.port}
routers:
- protocol: http
  label: ingress
  identifier:
    kind: io.l5d.ingress
    namespace: default
    host: 127.0.0.1
    port: ${k8s.port}
  dtab: /svc => /#/io.l5d.k8s
  servers:
  - {ip: 127.0.0.1, port: 0}
`,
  );
  const validate = spawnSync(process.execPath, [join(process.cwd(), 'bin', 'meshwork.js'), 'linkerd', '--validate', file], { encoding: 'utf8', timeout: 15_000 });
  assert.equal(validate.status, 0, validate.stderr);
  // A slow API server (every answer 1.5 s late): the linker must not listen before the
  // ingresses are read, so the very first request is routed.
  k8s.delayMs = 1500;
  t.after(() => (k8s.delayMs = 0));
  const l = await startLinker(file, 'ingress');
  t.after(() => l.proc.stop());
  const first = await request(l.port, { path: '/testpath', headers: { host: 'anything.example.com' } });
  k8s.delayMs = 0;
  assert.equal(`${first.status} ${first.body}`, '200 pod saw /testpath');
  const miss = await request(l.port, { path: '/nope', headers: { host: 'x' } });
  assert.equal(miss.status, 400);
  assert.match(miss.body, /no ingress rule matches/);
});

test('a config problem found while building the linker still ends meshwork linkerd (exit 2), its ingress watch let go', async () => {
  const down = await startFakeK8s();
  const port = down.port;
  await down.stop(); // the identifier's watch retries against nothing, forever
  const file = linkerdYaml(`admin: {ip: 127.0.0.1, port: 0}
routers:
- protocol: http
  identifier: {kind: io.l5d.ingress, host: 127.0.0.1, port: ${port}}
  dtab: /svc => /$/inet/127.1/9
  servers:
  - ip: 127.0.0.1
    port: 0
    tls: {certPath: /nonexistent/cert.pem, keyPath: /nonexistent/key.pem}
`);
  const t0 = Date.now();
  const r = spawnSync(process.execPath, [join(process.cwd(), 'bin', 'meshwork.js'), 'linkerd', file], { encoding: 'utf8', timeout: 15_000 });
  assert.equal(r.status, 2, `status ${r.status} after ${Date.now() - t0} ms; ${r.stderr}`);
  assert.match(r.stderr, /routers\[0\]\.servers\[0\]\.tls\.certPath: found "\/nonexistent\/cert\.pem"; allowed: a readable PEM file \(ENOENT\)/);
});
