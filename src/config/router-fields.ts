/**
 * The keys of a router, its servers, clients and services as Linkerd 1.x documents them
 * (linkerd/docs/routers.md, config.md, client_tls.md, protocol-*.md), common part plus the
 * protocol-specific part. Pure data: no registry access, so the catalogue and the linkerd schema
 * can both use it.
 */
import type { Fields, FieldType } from './schema.js';

export const PROTOCOLS = ['http', 'h2', 'thrift', 'mux', 'thriftmux', 'tcp'] as const;
export type ProtocolName = (typeof PROTOCOLS)[number];

const int: FieldType = 'int';
const strings: FieldType = { array: 'string' };

export const portField = { type: int, min: 0, max: 65535 } as const;

export const socketOptionsFields: Fields = {
  noDelay: { type: 'boolean', default: true },
  reuseAddr: { type: 'boolean', default: true },
  reusePort: { type: 'boolean', default: false },
  readTimeoutMs: { type: int, min: 0 },
  writeTimeoutMs: { type: int, min: 0 },
  keepAlive: { type: 'boolean', default: false },
  backlog: { type: int, min: 0 },
};

export const serverTlsFields: Fields = {
  enabled: { type: 'boolean' },
  certPath: { type: 'string', required: true },
  intermediateCertsPath: { type: 'string' },
  keyPath: { type: 'string', required: true },
  caCertPath: { type: 'string' },
  ciphers: { type: strings },
  requireClientAuth: { type: 'boolean' },
  protocols: { type: strings },
};

export const clientAuthFields: Fields = {
  certPath: { type: 'string', required: true },
  intermediateCertsPath: { type: 'string' },
  keyPath: { type: 'string', required: true },
};

/** Client TLS of namers, interpreters and stores (consul, etcd, marathon, namerd). */
export const namerTlsFields: Fields = {
  enabled: { type: 'boolean' },
  disableValidation: { type: 'boolean' },
  commonName: { type: 'string' },
  trustCerts: { type: strings },
  trustCertsBundle: { type: 'string' },
  clientAuth: { type: { object: clientAuthFields } },
  protocols: { type: strings },
};

/** Router client TLS; `kind`/`caCertPath` are the pre-1.0 form still shown in routers.md. */
export const clientTlsFields: Fields = {
  ...namerTlsFields,
  kind: { type: 'string', notSupported: true },
  caCertPath: { type: 'string', notSupported: true },
};

export const adminSecurityFields: Fields = {
  uiEnabled: { type: 'boolean', default: true },
  controlEnabled: { type: 'boolean', default: true },
  diagnosticsEnabled: { type: 'boolean', default: true },
  pathWhitelist: { type: strings, default: [] },
  pathBlacklist: { type: strings, default: [] },
};

export function adminFields(defaultPort: number): Fields {
  return {
    ip: { type: 'string', default: '127.0.0.1' },
    port: { ...portField, default: defaultPort },
    socketOptions: { type: { object: socketOptionsFields } },
    httpIdentifierPort: portField,
    shutdownGraceMs: { type: int, min: 0, default: 10000 },
    tls: { type: { object: serverTlsFields } },
    security: { type: { object: adminSecurityFields } },
    workerThreads: { type: int, min: 1, default: 2 },
  };
}

const sessionFields: Fields = {
  idleTimeMs: { type: int, min: 0 },
  lifeTimeMs: { type: int, min: 0 },
};

export const retryBudgetFields: Fields = {
  ttlSecs: { type: int, min: 1 },
  minRetriesPerSec: { type: int, min: 0 },
  percentCanRetry: { type: 'number', min: 0, max: 1000 },
};

const hostConnectionPoolFields: Fields = {
  minSize: { type: int, min: 0 },
  maxSize: { type: int, min: 0 },
  idleTimeMs: { type: int, min: 0 },
  maxWaiters: { type: int, min: 0 },
};

const labeler: FieldType = { plugin: 'forwardedLabeler' };
const forwardedFields: Fields = { by: { type: labeler }, for: { type: labeler } };

/** Keys every protocol's server has (routers.md "Server Parameters"). */
function commonServerFields(defaultPort: number): Fields {
  return {
    port: { ...portField, default: defaultPort },
    ip: { type: 'string', default: '127.0.0.1' },
    label: { type: 'string' },
    socketOptions: { type: { object: socketOptionsFields } },
    tls: { type: { object: serverTlsFields } },
    maxConcurrentRequests: { type: int, min: 1 },
    announce: { type: { array: 'path' }, default: [] },
    clearContext: { type: 'boolean', default: false },
    serverSession: { type: { object: sessionFields } },
    timeoutMs: { type: int, min: 0 },
  };
}

/**
 * HTTP/2 SETTINGS an h2 server announces and an h2 client sends (protocol-h2.md), bounded by
 * what node:http2 accepts (RFC 9113 6.5.2) so an out-of-range value is a config error, not a
 * crash when the listener or session is made.
 */
const h2SettingsFields: Fields = {
  headerTableBytes: { type: int, min: 0, max: 2 ** 32 - 1 },
  initialStreamWindowBytes: { type: int, min: 0, max: 2 ** 31 - 1 },
  maxFrameBytes: { type: int, min: 16384, max: 2 ** 24 - 1 },
  maxHeaderListBytes: { type: int, min: 0, max: 2 ** 32 - 1 },
  // Spelled this way in protocol-h2.md's tables; accepted as the same setting.
  maxHeaderListByts: { type: int, min: 0, max: 2 ** 32 - 1 },
};

/**
 * node:http2 has no setting for when window updates are sent: the ratio is range-checked as
 * Netty checks it, then named in a warning (router/config-warnings.ts).
 */
const h2WindowUpdateFields: Fields = {
  windowUpdateRatio: { type: 'number', min: 0, max: 1, exclusive: true },
};

/**
 * Keys of Linkerd's h2 router that Meshwork's h2 router does not build yet: recognised, and
 * refused with "not supported yet" at validation rather than ignored.
 */
function notBuiltYet(fields: Fields): Fields {
  return Object.fromEntries(Object.entries(fields).map(([k, f]) => [k, { ...f, notSupported: true }]));
}

/** A thrift or thriftmux router's server keys (the common ones, `serverSession` included, are built for both). */
function thriftServerFields(): Fields {
  return {
    thriftFramed: { type: 'boolean', default: true },
  };
}

/** A thrift or thriftmux router's client keys; those its clients do not build yet are refused. */
function thriftClientFields(): Fields {
  return {
    thriftFramed: { type: 'boolean' },
    attemptTTwitterUpgrade: { type: 'boolean' },
    failFast: { type: 'boolean' },
  };
}

const protocolServerFields: Record<ProtocolName, Fields> = {
  http: {
    addForwardedHeader: { type: { object: forwardedFields } },
    timestampHeader: { type: 'string' },
    maxCallDepth: { type: int, min: 0, default: 1000 },
  },
  h2: {
    ...h2SettingsFields,
    addForwardedHeader: { type: { object: forwardedFields } },
    ...h2WindowUpdateFields,
    maxConcurrentStreamsPerConnection: { type: int, min: 0, default: 1000 },
    maxCallDepth: { type: int, min: 0, default: 10 },
  },
  thrift: thriftServerFields(),
  thriftmux: thriftServerFields(),
  mux: {},
  // A raw TCP server says which port carries its service: there is no protocol's default.
  tcp: { port: { ...portField, required: true } },
};

/**
 * A server's port when its entry has none: each ProtocolInitializer's `defaultServerPort` in
 * Linkerd (http 4140, h2 4142, thrift 4114, thriftmux 4144, mux 4141).
 */
const defaultServerPort: Record<ProtocolName, number> = {
  http: 4140,
  h2: 4142,
  thrift: 4114,
  thriftmux: 4144,
  mux: 4141,
  tcp: 0,
};

/**
 * Protocols whose router may leave out `servers:` and get one server on the default port (the
 * binary protocols, as before); an http or h2 router must list its servers.
 */
const serversOptional: Record<ProtocolName, boolean> = {
  http: false,
  h2: false,
  thrift: true,
  thriftmux: true,
  mux: true,
  tcp: false,
};

/** Whether a router of this protocol without `servers:` gets one server on its default port. */
export function serversMayBeOmitted(protocol: ProtocolName): boolean {
  return serversOptional[protocol];
}

export function serverFields(protocol: ProtocolName): Fields {
  return { ...commonServerFields(defaultServerPort[protocol]), ...protocolServerFields[protocol] };
}

const commonClientParams: Fields = {
  hostConnectionPool: { type: { object: hostConnectionPoolFields } },
  tls: { type: { object: clientTlsFields } },
  loadBalancer: { type: { plugin: 'loadBalancer' } },
  failFast: { type: 'boolean' },
  requeueBudget: { type: { object: retryBudgetFields } },
  failureAccrual: { type: { plugin: 'failureAccrual' } },
  requestAttemptTimeoutMs: { type: int, min: 0 },
  clientSession: { type: { object: sessionFields } },
  socketOptions: { type: { object: socketOptionsFields } },
};

const protocolClientParams: Record<ProtocolName, Fields> = {
  http: {
    forwardClientCert: { type: 'boolean' },
    requestAuthorizers: { type: { array: { plugin: 'requestAuthorizer' } } },
  },
  h2: {
    ...h2SettingsFields,
    forwardClientCert: { type: 'boolean' },
    ...h2WindowUpdateFields,
    ...notBuiltYet({ requestAuthorizers: { type: { array: { plugin: 'h2RequestAuthorizer' } } } }),
    failFast: { type: 'boolean' },
  },
  thrift: thriftClientFields(),
  thriftmux: thriftClientFields(),
  mux: {},
  // Each accepted connection gets an upstream connection of its own: there is no pool to size.
  tcp: notBuiltYet({ hostConnectionPool: { type: { object: hostConnectionPoolFields } } }),
};

/** Client parameters (no defaults: static configs merge and later ones win). */
export function clientParams(protocol: ProtocolName): Fields {
  return { ...commonClientParams, ...protocolClientParams[protocol] };
}

const retriesFields: Fields = {
  budget: { type: { object: retryBudgetFields } },
  backoff: { type: { plugin: 'retryBackoff' } },
};

const protocolServiceParams: Record<ProtocolName, Fields> = {
  http: {},
  h2: {
    classificationTimeoutMs: { type: int, min: 0 },
    retryBufferSize: {
      type: { object: { requestBytes: { type: int, min: 0 }, responseBytes: { type: int, min: 0 } } },
    },
  },
  thrift: {},
  thriftmux: {},
  mux: {},
  // A connection is routed once: nothing to classify or retry (a refused connection is requeued).
  tcp: notBuiltYet({ retries: { type: { object: retriesFields } }, responseClassifier: { type: { plugin: 'responseClassifier' } } }),
};

export function serviceParams(protocol: ProtocolName): Fields {
  return {
    retries: { type: { object: retriesFields } },
    totalTimeoutMs: { type: int, min: 0 },
    responseClassifier: { type: { plugin: 'responseClassifier' } },
    ...protocolServiceParams[protocol],
  };
}

export const bindingCacheFields: Fields = {
  paths: { type: int, min: 0, default: 1000 },
  trees: { type: int, min: 0, default: 1000 },
  bounds: { type: int, min: 0, default: 1000 },
  clients: { type: int, min: 0, default: 1000 },
  idleTtlSecs: { type: int, min: 0, default: 600 },
};

/**
 * Router-level keys that are plain fields. `protocol`, `servers`, `client`, `service` and
 * `identifier` are validated by linkerd-schema.ts (they depend on the protocol).
 */
function commonRouterFields(): Fields {
  return {
    label: { type: 'string' },
    experimental: { type: 'boolean' },
    dtab: { type: 'dtab', default: '' },
    dstPrefix: { type: 'path', default: '/svc' },
    announcers: { type: { array: { plugin: 'announcer' } }, default: [] },
    bindingTimeoutMs: { type: int, min: 0, default: 10000 },
    bindingCache: { type: { object: bindingCacheFields }, default: {} },
    originator: { type: 'boolean', default: false },
    interpreter: { type: { plugin: 'interpreter' }, default: { kind: 'default' } },
  };
}

const accessLog = (p: string): Fields => ({
  [`${p}AccessLog`]: { type: 'string' },
  [`${p}AccessLogRollPolicy`]: { type: 'string' },
  [`${p}AccessLogAppend`]: { type: 'boolean' },
  [`${p}AccessLogRotateCount`]: { type: int },
});

const protocolRouterFields: Record<ProtocolName, Fields> = {
  http: {
    ...accessLog('http'),
    streamAfterContentLengthKB: { type: int, min: 0, default: 5 },
    maxHeadersKB: { type: int, min: 0, default: 8 },
    maxInitialLineKB: { type: int, min: 0, default: 4 },
    maxErrResponseKB: { type: int, min: 0, default: 5120 },
    compressionLevel: { type: int, min: -1, max: 9, default: -1 },
    streamingEnabled: { type: 'boolean', default: true },
    tracePropagator: { type: { plugin: 'tracePropagator' } },
  },
  h2: {
    ...accessLog('h2'),
    tracePropagator: { type: { plugin: 'h2TracePropagator' } },
  },
  thrift: {
    thriftMethodInDst: { type: 'boolean', default: false },
    thriftProtocol: { type: { enum: ['binary', 'compact'] }, default: 'binary' },
  },
  thriftmux: {
    thriftMethodInDst: { type: 'boolean', default: false },
    thriftProtocol: { type: { enum: ['binary', 'compact'] }, default: 'binary' },
  },
  mux: {},
  tcp: {
    sniInDst: { type: 'boolean', default: false },
  },
};

/** The identifier registry a protocol uses, or undefined when it takes no `identifier:`. */
export const identifierCategory: Record<ProtocolName, 'identifier' | 'h2Identifier' | undefined> = {
  http: 'identifier',
  h2: 'h2Identifier',
  thrift: undefined,
  thriftmux: undefined,
  mux: undefined,
  tcp: undefined,
};

/** Response classifier kinds a protocol accepts, by kind prefix. */
export const classifierPrefix: Record<ProtocolName, string | undefined> = {
  http: 'io.l5d.http.',
  h2: 'io.l5d.h2.',
  thrift: undefined,
  thriftmux: undefined,
  mux: undefined,
  tcp: undefined,
};

/** Every router key of a protocol (plain ones with their types; the structured ones as 'any'). */
export function routerFields(protocol: ProtocolName): Fields {
  const structured: Fields = {
    protocol: { type: { enum: PROTOCOLS }, required: true },
    servers: { type: { array: 'any' }, required: !serversOptional[protocol] },
    client: { type: 'any' },
    service: { type: 'any' },
    ...(identifierCategory[protocol] !== undefined ? { identifier: { type: 'any' as const } } : {}),
  };
  return { ...structured, ...commonRouterFields(), ...protocolRouterFields[protocol] };
}
