/**
 * `meshwork linkerd` as an HTTP/2 ingress controller: an h2 router on `io.l5d.ingress` reads
 * the Ingress resources of an in-test Kubernetes API server before it listens, names each
 * stream after the rule its `:authority` and `:path` match, and reaches a node:http2 upstream
 * through `/svc => /$/inet/...`; a watch update moves traffic; SIGTERM ends the process.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as http2 from 'node:http2';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { startLinker, linkerdYaml } from '../support/linker.js';
import { startFakeK8s, type FakeK8s, type K8sObject } from '../support/fake-k8s.js';
import { startH2Upstream } from '../support/h2.js';

interface Upstream {
  readonly port: number;
  close(): Promise<void>;
}

/** An HTTP/2 upstream answering `<name> <:path>` with the request's `l5d-dst-service`. */
function h2Upstream(name: string): Promise<Upstream> {
  return startH2Upstream((s, h) => {
    s.resume();
    s.on('end', () => {
      s.respond({ ':status': 200, 'x-dst': String(h['l5d-dst-service']) });
      s.end(`${name} ${String(h[':path'])}`);
    });
  });
}

interface Answer {
  readonly status: number;
  readonly headers: http2.IncomingHttpHeaders;
  readonly body: string;
}

function call(port: number, authority: string, path: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`http://127.0.0.1:${port}`);
    session.on('error', reject);
    const st = session.request({ ':method': 'POST', ':path': path, ':authority': authority, 'content-type': 'application/grpc' }, { endStream: true });
    const timer = setTimeout(() => {
      session.destroy();
      reject(new Error('no answer in 5s'));
    }, 5000);
    let status = 0;
    let headers: http2.IncomingHttpHeaders = {};
    let body = '';
    st.on('response', (h) => {
      status = Number(h[':status']);
      headers = h;
    });
    st.on('data', (c: Buffer) => (body += c.toString()));
    st.on('end', () => {
      clearTimeout(timer);
      session.close();
      resolve({ status, headers, body });
    });
    st.on('error', (e) => {
      clearTimeout(timer);
      session.destroy();
      reject(e);
    });
  });
}

const ingress = (greeter: string): K8sObject => ({
  apiVersion: 'extensions/v1beta1',
  kind: 'Ingress',
  metadata: { name: 'grpc', annotations: { 'kubernetes.io/ingress.class': 'linkerd' } },
  spec: {
    rules: [
      {
        host: 'api.example.com',
        http: { paths: [{ path: '/helloworld\\.Greeter/.*', backend: { serviceName: greeter, servicePort: 'grpc' } }] },
      },
    ],
  },
});

let k8s: FakeK8s;
const ups: Upstream[] = [];
before(async () => {
  k8s = await startFakeK8s();
});
after(async () => {
  for (const u of ups) await u.close();
  await k8s.stop();
});

test('an h2 router on io.l5d.ingress: ready before it listens, routes by :authority and :path, follows the watch, stops on SIGTERM', async (t) => {
  const v1 = await h2Upstream('greeter-v1');
  const v2 = await h2Upstream('greeter-v2');
  ups.push(v1, v2);
  k8s.putObject('shop', 'ingresses', ingress('greeter'));
  const file = linkerdYaml(`admin: {ip: 127.0.0.1, port: 0}
routers:
- protocol: h2
  label: h2-ingress
  identifier:
    kind: io.l5d.ingress
    namespace: shop
    host: 127.0.0.1
    port: ${k8s.port}
  dtab: |
    /svc/shop/grpc/greeter => /$/inet/127.1/${v1.port};
    /svc/shop/grpc/greeter-v2 => /$/inet/127.1/${v2.port};
  servers:
  - {ip: 127.0.0.1, port: 0}
`);
  const validate = spawnSync(process.execPath, [join(process.cwd(), 'bin', 'meshwork.js'), 'linkerd', '--validate', file], { encoding: 'utf8', timeout: 15_000 });
  assert.equal(validate.status, 0, validate.stderr);
  // A slow API server (every answer 1.5 s late): the linker must not listen before the
  // ingresses are read, so the very first stream is routed.
  k8s.delayMs = 1500;
  t.after(() => (k8s.delayMs = 0));
  const l = await startLinker(file, 'h2-ingress');
  t.after(() => l.proc.stop(1000));
  const first = await call(l.port, 'api.example.com:8080', '/helloworld.Greeter/SayHello');
  k8s.delayMs = 0;
  assert.deepEqual([first.status, first.headers['x-dst'], first.body], [200, '/svc/shop/grpc/greeter', 'greeter-v1 /helloworld.Greeter/SayHello']);

  const otherHost = await call(l.port, 'web.example.com', '/helloworld.Greeter/SayHello');
  assert.deepEqual([otherHost.status, otherHost.headers['l5d-err']], [400, 'Unknown destination: POST /helloworld.Greeter/SayHello / no ingress rule matches']);
  const otherPath = await call(l.port, 'api.example.com', '/routeguide.RouteGuide/GetFeature');
  assert.deepEqual([otherPath.status, otherPath.headers['l5d-err']], [400, 'Unknown destination: POST /routeguide.RouteGuide/GetFeature / no ingress rule matches']);

  // The ingress now names greeter-v2: the linker follows the watch.
  k8s.putObject('shop', 'ingresses', ingress('greeter-v2'));
  let moved: Answer | undefined;
  for (let i = 0; i < 200; i++) {
    moved = await call(l.port, 'api.example.com', '/helloworld.Greeter/SayHello');
    if (moved.body.startsWith('greeter-v2')) break;
    await new Promise((res) => setTimeout(res, 10));
  }
  assert.deepEqual([moved?.status, moved?.headers['x-dst'], moved?.body], [200, '/svc/shop/grpc/greeter-v2', 'greeter-v2 /helloworld.Greeter/SayHello']);

  // Shutdown closes the watch with the rest: the process exits by itself, status 0.
  await l.proc.stop(5000);
  assert.deepEqual([l.proc.child.exitCode, l.proc.child.signalCode], [0, null], l.proc.output());
  k8s.deleteObject('shop', 'ingresses', 'grpc');
});

test('a config problem found while building an h2 ingress router still ends meshwork linkerd (exit 2), no ingress watch left running', async () => {
  const down = await startFakeK8s();
  const port = down.port;
  await down.stop(); // a watch would retry against nothing, forever
  const file = linkerdYaml(`admin: {ip: 127.0.0.1, port: 0}
routers:
- protocol: h2
  identifier: {kind: io.l5d.ingress, host: 127.0.0.1, port: ${port}}
  dtab: /svc => /$/inet/127.1/9
  servers:
  - ip: 127.0.0.1
    port: 0
    tls: {certPath: /nonexistent/cert.pem, keyPath: /nonexistent/key.pem}
`);
  const r = spawnSync(process.execPath, [join(process.cwd(), 'bin', 'meshwork.js'), 'linkerd', file], { encoding: 'utf8', timeout: 15_000 });
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, /routers\[0\]\.servers\[0\]\.tls\.certPath: found "\/nonexistent\/cert\.pem"; allowed: a readable PEM file \(ENOENT\)/);
});
