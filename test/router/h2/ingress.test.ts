/**
 * The h2 router's `io.l5d.ingress` against an in-test Kubernetes API server: the host of
 * `:authority` and the path of `:path` pick the rule, the answer follows the watch, and the
 * keys are Linkerd's h2 ones.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { getPlugin } from '../../../src/config/plugins.js';
import { Path } from '../../../src/naming/path.js';
import '../../../src/router/register-h2.js';
import { createH2Identifier, H2HeadersView, H2IngressIdentifier } from '../../../src/router/h2/identifiers.js';
import type { Identifier, IdentifyResult } from '../../../src/router/identifiers/identifier.js';
import { PluginError } from '../../../src/router/plugin-errors.js';
import { startFakeK8s, type FakeK8s, type K8sObject } from '../../support/fake-k8s.js';

const ctx = { dstPrefix: Path.utf8('svc') };
const show = (r: IdentifyResult): string => (r.type === 'identified' ? r.dst.show() : `unidentified: ${r.reason}${r.fatal === true ? ' (fatal)' : ''}`);
const h2 = (authority: string | undefined, path: string): H2HeadersView => new H2HeadersView({ ':method': 'POST', ':scheme': 'http', ':path': path, ...(authority === undefined ? {} : { ':authority': authority }) });

/** An extensions/v1beta1 Ingress (the shape Linkerd 1.x read). */
function ingress(name: string, spec: Record<string, unknown>, annotations?: Record<string, string>): K8sObject {
  return { apiVersion: 'extensions/v1beta1', kind: 'Ingress', metadata: { name, ...(annotations === undefined ? {} : { annotations }) }, spec };
}

const grpcIngress = (greeterService: string): K8sObject =>
  ingress('grpc', {
    rules: [
      {
        host: 'api.example.com',
        http: {
          paths: [
            { path: '/helloworld\\.Greeter/.*', backend: { serviceName: greeterService, servicePort: 'grpc' } },
            { path: '/routeguide\\..*', backend: { serviceName: 'routes', servicePort: 50051 } },
          ],
        },
      },
    ],
  });

let k8s: FakeK8s;
before(async () => {
  k8s = await startFakeK8s();
});
after(() => k8s.stop());

/** Polls the identifier (10 ms apart, at most 2 s) until it answers `want`. */
async function until(id: Identifier, req: H2HeadersView, want: string): Promise<void> {
  let got = '';
  for (let i = 0; i < 200; i++) {
    got = show(id.identify(req));
    if (got === want) return;
    await new Promise((res) => setTimeout(res, 10));
  }
  assert.fail(`identifier answered ${JSON.stringify(got)}, wanted ${JSON.stringify(want)}`);
}

test("the h2 io.l5d.ingress has Linkerd's h2 keys and the http variant's defaults", () => {
  const spec = getPlugin('h2Identifier', 'io.l5d.ingress');
  assert.ok(spec?.create !== undefined, 'built');
  assert.deepEqual(Object.keys(spec.fields).sort(), ['host', 'ignoreDefaultBackends', 'ingressClassAnnotation', 'namespace', 'port']);
  assert.equal(spec.fields['port']!.default, 8001);
  assert.equal(spec.fields['ingressClassAnnotation']!.default, 'linkerd');
  assert.throws(() => createH2Identifier({ kind: 'io.l5d.ingress', port: 0 }, ctx), (e: unknown) => e instanceof PluginError && e.key === 'port' && /must be between 1 and 65535, found 0/.test(e.message));
});

test('host from :authority without its port, path from :path without its query; no match is unidentified; the watch changes the answer', async () => {
  k8s.putObject('grpc', 'ingresses', grpcIngress('greeter-v1'));
  k8s.putObject('grpc', 'ingresses', ingress('nginx-only', { backend: { serviceName: 'nginx', servicePort: 80 } }, { 'kubernetes.io/ingress.class': 'nginx' }));
  k8s.putObject('other', 'ingresses', ingress('not-watched', { backend: { serviceName: 'elsewhere', servicePort: 80 } }));
  const id = createH2Identifier({ kind: 'io.l5d.ingress', namespace: 'grpc', host: k8s.host, port: k8s.port }, ctx);
  try {
    assert.ok(id instanceof H2IngressIdentifier);
    assert.equal(show(id.identify(h2('api.example.com', '/helloworld.Greeter/SayHello'))), `unidentified: ingress resources not read yet from the Kubernetes API at 127.0.0.1:${k8s.port}`);
    await id.ready!(5000);
    assert.equal(show(id.identify(h2('api.example.com', '/helloworld.Greeter/SayHello'))), '/svc/grpc/grpc/greeter-v1');
    assert.equal(show(id.identify(h2('API.example.com:8080', '/helloworld.Greeter/SayHello?x=1'))), '/svc/grpc/grpc/greeter-v1');
    assert.equal(show(id.identify(h2('api.example.com', '/routeguide.RouteGuide/GetFeature'))), '/svc/grpc/50051/routes');
    // Another host, a path no rule has, no :authority at all, and the nginx ingress's default
    // backend (another class) and another namespace's never answer.
    assert.equal(show(id.identify(h2('web.example.com', '/helloworld.Greeter/SayHello'))), 'unidentified: no ingress rule matches');
    assert.equal(show(id.identify(h2('api.example.com', '/helloworld.Farewell/Bye'))), 'unidentified: no ingress rule matches');
    assert.equal(show(id.identify(h2(undefined, '/helloworld.Greeter/SayHello'))), 'unidentified: no ingress rule matches');
    assert.equal(show(id.identify(h2('a:b:c', '/helloworld.Greeter/SayHello'))), 'unidentified: unable to parse the Host header (fatal)');
    // The watch: a MODIFIED ingress, then a DELETED one.
    k8s.putObject('grpc', 'ingresses', grpcIngress('greeter-v2'));
    await until(id, h2('api.example.com', '/helloworld.Greeter/SayHello'), '/svc/grpc/grpc/greeter-v2');
    k8s.deleteObject('grpc', 'ingresses', 'grpc');
    await until(id, h2('api.example.com', '/helloworld.Greeter/SayHello'), 'unidentified: no ingress rule matches');
    assert.ok(k8s.requests.includes('GET /apis/networking.k8s.io/v1/namespaces/grpc/ingresses'), k8s.requests.join('\n'));
  } finally {
    id.close!();
    k8s.deleteObject('grpc', 'ingresses', 'nginx-only');
    k8s.deleteObject('other', 'ingresses', 'not-watched');
  }
});

test('in a list, an unmatched request falls through to the next identifier; ready and close reach the ingress watch', async () => {
  k8s.putObject('default', 'ingresses', ingress('web', { rules: [{ http: { paths: [{ path: '/web/.*', backend: { serviceName: 'web', servicePort: 80 } }] } }] }));
  const id = createH2Identifier([{ kind: 'io.l5d.ingress', host: k8s.host, port: k8s.port, ignoreDefaultBackends: true }, { kind: 'io.l5d.header.token' }], ctx);
  try {
    await id.ready!(5000);
    assert.equal(show(id.identify(h2('any', '/web/x'))), '/svc/default/80/web');
    assert.equal(show(id.identify(h2('any', '/api/x'))), '/svc/any');
  } finally {
    id.close!();
    k8s.deleteObject('default', 'ingresses', 'web');
  }
  // Closed: a change is no longer followed. A second identifier watching the same server sees
  // the change, so the closed one would have by then too.
  k8s.putObject('default', 'ingresses', ingress('web', { rules: [{ http: { paths: [{ path: '/web/.*', backend: { serviceName: 'web-v2', servicePort: 80 } }] } }] }));
  const fresh = createH2Identifier({ kind: 'io.l5d.ingress', host: k8s.host, port: k8s.port }, ctx);
  try {
    await until(fresh, h2('any', '/web/x'), '/svc/default/80/web-v2');
    assert.equal(show(id.identify(h2('any', '/web/x'))), '/svc/default/80/web');
  } finally {
    fresh.close!();
    k8s.deleteObject('default', 'ingresses', 'web');
  }
});
