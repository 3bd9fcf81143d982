/**
 * Every `kind:` Linkerd 1.x and namerd document (linkerd/docs/*.md, namerd/docs/*.md), with
 * their documented keys, as "known, not supported yet" specs (no `create`). An area that builds
 * a kind registers it in plugins.ts and replaces the entry here; until then a config using it
 * fails at start-up with `not supported yet: <kind> at <key path>`.
 */
import type { FieldSpec, Fields, FieldType, PluginCategory, PluginSpec } from './schema.js';
import {
  PROTOCOLS,
  namerTlsFields,
  portField,
  routerFields,
  serverTlsFields,
  socketOptionsFields,
} from './router-fields.js';

const int: FieldType = 'int';
const strings: FieldType = { array: 'string' };
const tls: FieldSpec = { type: { object: namerTlsFields } };
const consistency: FieldType = { enum: ['default', 'stale', 'consistent'] };
/** Linkerd's ZooKeeper ensemble key (`[{host, port}]`, port 2181 by default); plugins reuse it. */
export const zkAddrs: FieldSpec = {
  type: { array: { object: { host: { type: 'string', required: true }, port: { ...portField, default: 2181 } } } },
  required: true,
};
const host = (d: string): FieldSpec => ({ type: 'string', default: d });
const port = (d: number): FieldSpec => ({ ...portField, default: d });
const sampleRate = (d?: number): FieldSpec => ({ type: 'number', min: 0, max: 1, ...(d === undefined ? { required: true } : { default: d }) });

interface Entry {
  readonly kind: string;
  readonly fields?: Fields;
  readonly experimental?: boolean;
  readonly hint?: string;
}

const k8sApi: Fields = { host: host('localhost'), port: port(8001) };

const catalogue: Partial<Record<PluginCategory, readonly Entry[]>> = {
  protocol: PROTOCOLS.map((p) => ({ kind: p, fields: routerFields(p), experimental: p === 'thriftmux' })),

  namer: [
    { kind: 'io.l5d.fs', fields: { rootDir: { type: 'string', required: true } } },
    { kind: 'io.l5d.serversets', fields: { zkAddrs } },
    {
      kind: 'io.l5d.consul',
      fields: {
        host: host('localhost'),
        port: port(8500),
        includeTag: { type: 'boolean', default: false },
        useHealthCheck: { type: 'boolean', default: false },
        healthStatuses: { type: { array: { enum: ['passing', 'warning', 'critical', 'maintenance'] } }, default: ['passing'] },
        token: { type: 'string' },
        setHost: { type: 'boolean', default: false },
        consistencyMode: { type: consistency, default: 'default' },
        failFast: { type: 'boolean', default: false },
        preferServiceAddress: { type: 'boolean', default: true },
        weights: { type: { array: { object: { tag: { type: 'string', required: true }, weight: { type: 'number', required: true, min: 0 } } } } },
        fixedLengthStreamedAfterKB: { type: int, min: 0, default: 5120 },
        tls,
        transferMetadata: { type: 'boolean', default: false },
      },
    },
    { kind: 'io.l5d.k8s', fields: { ...k8sApi, labelSelector: { type: 'string' } } },
    { kind: 'io.l5d.k8s.external', experimental: true, fields: { ...k8sApi, labelSelector: { type: 'string' } } },
    { kind: 'io.l5d.k8s.ns', fields: { envVar: host('POD_NAMESPACE'), ...k8sApi, labelSelector: { type: 'string' } } },
    { kind: 'io.l5d.k8s.istio', experimental: true, fields: { host: host('istio-manager.default.svc.cluster.local'), port: port(8080) } },
    {
      kind: 'io.l5d.marathon',
      fields: {
        host: host('marathon.mesos'),
        port: port(80),
        // `dst` and `jitterMs` are read by Linkerd's MarathonConfig though namer.md omits them.
        dst: { type: 'string' },
        uriPrefix: { type: 'string' },
        ttlMs: { type: int, min: 0, default: 5000 },
        jitterMs: { type: int, min: 0 },
        useHealthCheck: { type: 'boolean', default: false },
        tls,
      },
    },
    { kind: 'io.l5d.dnssrv', experimental: true, fields: { refreshIntervalSeconds: { type: int, min: 1, default: 5 }, dnsHosts: { type: strings, default: [] } } },
    { kind: 'io.l5d.zkLeader', fields: { zkAddrs } },
    { kind: 'io.l5d.curator', experimental: true, fields: { zkAddrs, basePath: { type: 'string', default: '/' } } },
    { kind: 'io.l5d.rancher', experimental: true, fields: { portMappings: { type: { map: int } }, maxWait: { type: int, min: 0, default: 30 } } },
    { kind: 'io.l5d.rewrite', fields: { pattern: { type: 'string', required: true }, name: { type: 'string', required: true } } },
  ],

  transformer: [
    { kind: 'io.l5d.localhost' },
    { kind: 'io.l5d.specificHost', fields: { host: { type: 'string', required: true } } },
    { kind: 'io.l5d.port', fields: { port: { ...portField, required: true } } },
    {
      kind: 'io.l5d.k8s.daemonset',
      fields: {
        namespace: { type: 'string', required: true },
        service: { type: 'string', required: true },
        port: { type: 'string', required: true },
        hostNetwork: { type: 'boolean', default: false },
        k8sHost: host('localhost'),
        k8sPort: port(8001),
      },
    },
    { kind: 'io.l5d.k8s.localnode', fields: { hostNetwork: { type: 'boolean', default: false } } },
    { kind: 'io.l5d.replace', fields: { path: { type: 'path', required: true } } },
    { kind: 'io.l5d.const', fields: { path: { type: 'path', required: true } } },
  ],

  interpreter: [
    { kind: 'default' },
    {
      kind: 'io.l5d.namerd',
      fields: {
        dst: { type: 'path', required: true },
        namespace: { type: 'string', default: 'default' },
        retry: { type: { object: namerdRetry() } },
        tls: { type: { object: { commonName: { type: 'string', required: true }, caCert: { type: 'string' } } } },
        failureThreshold: { type: { object: failureThreshold() } },
      },
    },
    {
      kind: 'io.l5d.namerd.http',
      experimental: true,
      fields: {
        dst: { type: 'path', required: true },
        namespace: { type: 'string', default: 'default' },
        retry: { type: { object: namerdRetry() } },
        tls,
      },
    },
    {
      kind: 'io.l5d.mesh',
      fields: {
        dst: { type: 'path', required: true },
        root: { type: 'path', default: '/default' },
        retry: { type: { object: namerdRetry() } },
        tls,
        failureThreshold: { type: { object: failureThreshold() } },
        initialStreamWindowSizeKB: { type: int, min: 1, default: 1024 },
      },
    },
    { kind: 'io.l5d.fs', fields: { dtabFile: { type: 'string', required: true } } },
    {
      kind: 'io.l5d.k8s.configMap',
      experimental: true,
      fields: {
        name: { type: 'string', required: true },
        filename: { type: 'string', required: true },
        ...k8sApi,
        namespace: { type: 'string', default: 'default' },
      },
    },
    { kind: 'io.l5d.consul.interpreter', fields: { ...consulKv(), namespace: { type: 'string', default: 'default' } } },
  ],

  identifier: [
    { kind: 'io.l5d.methodAndHost', fields: { httpUriInDst: { type: 'boolean', default: false } } },
    { kind: 'io.l5d.path', fields: { segments: { type: int, min: 1, default: 1 }, consume: { type: 'boolean', default: false } } },
    { kind: 'io.l5d.header', fields: { header: { type: 'string', default: 'l5d-name' } } },
    { kind: 'io.l5d.header.token', fields: { header: { type: 'string', default: 'Host' } } },
    { kind: 'io.l5d.static', fields: { path: { type: 'path', required: true } } },
    { kind: 'io.l5d.ingress', fields: ingress() },
    { kind: 'io.l5d.k8s.istio', fields: istioPilot() },
  ],

  h2Identifier: [
    { kind: 'io.l5d.header.token', fields: { header: { type: 'string', default: ':authority' } } },
    { kind: 'io.l5d.header.path', fields: { header: { type: 'string', default: ':path' }, segments: { type: int, min: 1 } } },
    { kind: 'io.l5d.ingress', fields: ingress() },
    { kind: 'io.l5d.k8s.istio', fields: istioPilot() },
  ],

  loadBalancer: [
    { kind: 'p2c', fields: { maxEffort: { type: int, min: 1, default: 5 } } },
    { kind: 'ewma', fields: { maxEffort: { type: int, min: 1, default: 5 }, decayTimeMs: { type: int, min: 1, default: 10000 } } },
    {
      kind: 'aperture',
      fields: {
        maxEffort: { type: int, min: 1, default: 5 },
        smoothWindowMs: { type: int, min: 1, default: 5000 },
        lowLoad: { type: 'number', min: 0, default: 0.5 },
        highLoad: { type: 'number', min: 0, default: 2 },
        minAperture: { type: int, min: 1, default: 1 },
      },
    },
    { kind: 'heap' },
    { kind: 'roundRobin', fields: { maxEffort: { type: int, min: 1, default: 5 } } },
  ],

  failureAccrual: [
    { kind: 'io.l5d.consecutiveFailures', fields: { failures: { type: int, min: 1, required: true } } },
    { kind: 'io.l5d.successRate', fields: { successRate: { type: 'number', min: 0, max: 1, required: true }, requests: { type: int, min: 1, required: true } } },
    { kind: 'io.l5d.successRateWindowed', fields: { successRate: { type: 'number', min: 0, max: 1, required: true }, window: { type: int, min: 1, required: true } } },
    { kind: 'none' },
  ],

  retryBackoff: [
    { kind: 'constant', fields: { ms: { type: int, min: 0, default: 0 } } },
    { kind: 'jittered', fields: { minMs: { type: int, min: 0, required: true }, maxMs: { type: int, min: 0, required: true } } },
  ],

  responseClassifier: [
    ...['nonRetryable5XX', 'retryableRead5XX', 'retryableIdempotent5XX', 'retryableAll5XX', 'allSuccessful'].flatMap((k) => [
      { kind: `io.l5d.http.${k}` },
      { kind: `io.l5d.h2.${k}` },
    ]),
    // Every gRPC classifier takes `successStatusCodes` (default [0]); response_classifier.md.
    { kind: 'io.l5d.h2.grpc.default', fields: grpcSuccess() },
    { kind: 'io.l5d.h2.grpc.compliant', fields: grpcSuccess() },
    { kind: 'io.l5d.h2.grpc.alwaysRetryable', fields: grpcSuccess() },
    { kind: 'io.l5d.h2.grpc.neverRetryable', fields: grpcSuccess() },
    {
      kind: 'io.l5d.h2.grpc.retryableStatusCodes',
      fields: { retryableStatusCodes: { type: { array: int }, required: true }, ...grpcSuccess() },
    },
  ],

  telemeter: [
    { kind: 'io.l5d.prometheus', fields: { path: { type: 'string', default: '/admin/metrics/prometheus' }, prefix: { type: 'string' } } },
    { kind: 'io.l5d.influxdb' },
    {
      kind: 'io.l5d.statsd',
      experimental: true,
      fields: {
        prefix: { type: 'string', default: 'linkerd' },
        hostname: host('127.0.0.1'),
        port: port(8125),
        gaugeIntervalMs: { type: int, min: 1, default: 10000 },
        sampleRate: sampleRate(0.01),
      },
    },
    {
      kind: 'io.l5d.tracelog',
      fields: {
        host: host('localhost'),
        sampleRate: sampleRate(1.0),
        level: { type: { enum: ['ALL', 'CRITICAL', 'DEBUG', 'ERROR', 'FATAL', 'INFO', 'OFF', 'TRACE', 'WARNING'] }, default: 'INFO' },
      },
    },
    { kind: 'io.l5d.recentRequests', fields: { sampleRate: sampleRate(), capacity: { type: int, min: 1, default: 10 } } },
    { kind: 'io.l5d.zipkin', fields: { host: host('localhost'), port: port(9410), sampleRate: sampleRate(0.001) } },
  ],

  announcer: [{ kind: 'io.l5d.serversets', fields: { zkAddrs, pathPrefix: { type: 'string', default: '/discovery' } } }],

  tracePropagator: [{ kind: 'io.l5d.default' }, { kind: 'io.l5d.zipkin' }],
  h2TracePropagator: [{ kind: 'io.l5d.default' }, { kind: 'io.l5d.zipkin' }],

  requestAuthorizer: [{ kind: 'io.l5d.k8s.istio', fields: mixer() }],
  h2RequestAuthorizer: [{ kind: 'io.l5d.k8s.istio', fields: mixer() }],

  forwardedLabeler: [
    { kind: 'ip' },
    { kind: 'ip:port' },
    { kind: 'connectionRandom' },
    { kind: 'requestRandom' },
    { kind: 'router' },
    { kind: 'static', fields: { label: { type: 'string', required: true } } },
  ],

  storage: [
    { kind: 'io.l5d.inMemory', fields: { namespaces: { type: { map: 'dtab' }, default: {} } } },
    { kind: 'io.l5d.k8s', fields: { ...k8sApi, namespace: { type: 'string', default: 'default' } } },
    {
      kind: 'io.l5d.zk',
      fields: {
        zkAddrs,
        pathPrefix: { type: 'string', default: '/dtabs' },
        sessionTimeoutMs: { type: int, min: 1, default: 10000 },
        authInfo: { type: { object: { scheme: { type: 'string', required: true }, auth: { type: 'string', required: true } } } },
        acls: {
          type: { array: { object: { scheme: { type: 'string', required: true }, id: { type: 'string', required: true }, perms: { type: 'string', required: true } } } },
          default: [],
        },
      },
    },
    { kind: 'io.l5d.etcd', experimental: true, fields: { host: host('localhost'), port: port(2379), pathPrefix: { type: 'string', default: '/namerd/dtabs' }, tls } },
    { kind: 'io.l5d.consul', fields: consulKv() },
  ],

  namerdInterface: [
    {
      kind: 'io.l5d.thriftNameInterpreter',
      fields: {
        port: port(4100),
        cache: {
          type: {
            object: {
              bindingCacheActive: { type: int, min: 0, default: 1000 },
              bindingCacheInactive: { type: int, min: 0, default: 100 },
              bindingCacheInactiveTTLSecs: { type: int, min: 0, default: 600 },
              addrCacheActive: { type: int, min: 0, default: 1000 },
              addrCacheInactive: { type: int, min: 0, default: 100 },
              addrCacheInactiveTTLSecs: { type: int, min: 0, default: 600 },
            },
          },
        },
      },
    },
    {
      kind: 'io.l5d.mesh',
      fields: {
        port: port(4321),
        // Read by namerd's MeshIfaceConfig (an access log of the gRPC interface).
        h2AccessLog: { type: 'string' },
        h2AccessLogRollPolicy: { type: 'string' },
        h2AccessLogAppend: { type: 'boolean' },
        h2AccessLogRotateCount: { type: int },
      },
    },
    { kind: 'io.l5d.destination', fields: { port: port(8086), prefix: { type: 'path', default: '/svc' }, namespace: { type: 'string', default: 'default' } } },
    { kind: 'io.l5d.httpController', fields: { port: port(4180) } },
    // Meshwork's own: namerd's dtabs over Envoy's xDS (src/namerd/xds/server.ts).
    {
      kind: 'io.meshwork.xds',
      fields: {
        port: port(18000),
        prefix: { type: 'path', default: '/svc' },
        namespace: { type: 'string', default: 'default' },
        // Envoy proxies steered too (wildcard LDS/CDS, RDS); rules across keys in namerd-schema.ts.
        envoy: {
          type: {
            object: {
              listeners: {
                type: {
                  array: {
                    object: {
                      port: { ...portField, min: 1, required: true },
                      ip: host('0.0.0.0'),
                      name: { type: 'string' },
                    },
                  },
                },
                required: true,
              },
              services: { type: strings, default: [] },
            },
          },
        },
      },
    },
  ],
};

function grpcSuccess(): Fields {
  return { successStatusCodes: { type: { array: int }, default: [0] } };
}

function namerdRetry(): Fields {
  return { baseSeconds: { type: int, min: 0, default: 5 }, maxSeconds: { type: int, min: 0, default: 600 } };
}

function failureThreshold(): Fields {
  return { minPeriodMs: { type: int, min: 1, default: 5000 }, closeTimeoutMs: { type: int, min: 1, default: 4000 } };
}

function consulKv(): Fields {
  return {
    host: host('localhost'),
    port: port(8500),
    pathPrefix: { type: 'string', default: '/namerd/dtabs' },
    token: { type: 'string' },
    datacenter: { type: 'string' },
    readConsistencyMode: { type: consistency, default: 'default' },
    writeConsistencyMode: { type: consistency, default: 'default' },
    failFast: { type: 'boolean', default: false },
    backoff: { type: { plugin: 'retryBackoff' } },
    tls,
  };
}

function ingress(): Fields {
  return {
    namespace: { type: 'string' },
    ingressClassAnnotation: { type: 'string', default: 'linkerd' },
    ignoreDefaultBackends: { type: 'boolean', default: false },
    ...k8sApi,
  };
}

function istioPilot(): Fields {
  return {
    discoveryHost: host('istio-pilot'),
    discoveryPort: port(8080),
    apiserverHost: host('istio-pilot'),
    apiserverPort: port(8081),
  };
}

function mixer(): Fields {
  return { mixerHost: host('istio-mixer'), mixerPort: port(9091) };
}

/** Keys every kind of a category has besides its own (`kind` and `experimental` always). */
export function categoryFields(category: PluginCategory, kind: string): Fields {
  switch (category) {
    case 'namer':
      return {
        // io.l5d.rewrite has no default prefix; every other namer defaults to its kind.
        prefix: kind === 'io.l5d.rewrite' ? { type: 'path', required: true } : { type: 'path', default: '/' + kind },
        transformers: { type: { array: { plugin: 'transformer' } } },
      };
    case 'interpreter':
      return { transformers: { type: { array: { plugin: 'transformer' } } } };
    case 'announcer':
      return { prefix: { type: 'path', default: '/' + kind } };
    case 'loadBalancer':
      return { enableProbation: { type: 'boolean', default: false } };
    case 'failureAccrual':
      return { backoff: { type: { plugin: 'retryBackoff' } } };
    case 'namerdInterface':
      return {
        ip: { type: 'string', default: '127.0.0.1' },
        socketOptions: { type: { object: socketOptionsFields } },
        tls: { type: { object: serverTlsFields } },
      };
    default:
      return {};
  }
}

/** The kind used when a `kind:` key is absent, where Linkerd has one. */
export function defaultKind(category: PluginCategory): string | undefined {
  switch (category) {
    case 'interpreter':
      return 'default';
    case 'loadBalancer':
      return 'p2c';
    default:
      return undefined;
  }
}

export function catalogueSpecs(): PluginSpec[] {
  const out: PluginSpec[] = [];
  for (const [category, entries] of Object.entries(catalogue) as [PluginCategory, readonly Entry[]][]) {
    for (const e of entries) {
      out.push({ category, kind: e.kind, fields: e.fields ?? {}, ...(e.experimental ? { experimental: true } : {}), ...(e.hint ? { hint: e.hint } : {}) });
    }
  }
  return out;
}
