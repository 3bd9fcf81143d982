/**
 * The config keys of every storage kind, kept apart from the stores so the registry (and
 * config validation) can describe all kinds without loading etcd, gRPC or ZooKeeper clients.
 */
import type { Fields } from '../../config/schema.js';
import { namerTlsFields } from '../../config/router-fields.js';

export const inMemoryFields: Fields = {
  namespaces: { type: { map: 'dtab' }, default: {}, doc: 'A map of namespaces to their dtabs.' },
};

export const etcdFields: Fields = {
  host: { type: 'string', default: 'localhost', doc: 'The etcd API host.' },
  port: { type: 'int', default: 2379, min: 1, max: 65535, doc: 'The etcd API port.' },
  pathPrefix: { type: 'path', default: '/namerd/dtabs', doc: 'The key path under which dtabs are stored.' },
  tls: {
    type: {
      object: {
        disableValidation: { type: 'boolean', default: false, notSupported: true },
        commonName: { type: 'string' },
        trustCerts: { type: { array: 'string' } },
        clientAuth: {
          type: { object: { certPath: { type: 'string', required: true }, keyPath: { type: 'string', required: true } } },
        },
      },
    },
    doc: 'TLS to etcd: CA files, name to verify, optional client certificate.',
  },
};

export const zkFields: Fields = {
  zkAddrs: {
    type: { array: { object: { host: { type: 'string', required: true }, port: { type: 'int', required: true, min: 1, max: 65535 } } } },
    required: true,
    doc: 'ZooKeeper servers, each with host and port.',
  },
  pathPrefix: { type: 'path', default: '/dtabs', doc: 'The znode under which dtabs are stored.' },
  sessionTimeoutMs: { type: 'int', default: 10000, min: 1, doc: 'ZooKeeper session timeout in milliseconds.' },
  authInfo: {
    type: { object: { scheme: { type: 'string', required: true }, auth: { type: 'string', required: true } } },
    doc: 'Authentication sent when connecting.',
  },
  acls: {
    type: {
      array: {
        object: {
          scheme: { type: 'string', required: true },
          id: { type: 'string', required: true },
          perms: { type: 'string', required: true, doc: "distinct letters of 'crwda'" },
        },
      },
    },
    default: [],
    doc: 'ACLs set on each dtab znode created (none given: world:anyone:crwda).',
  },
};

export const k8sFields: Fields = {
  host: { type: 'string', default: 'localhost', doc: 'The Kubernetes API host (usually kubectl proxy).' },
  port: { type: 'int', default: 8001, min: 1, max: 65535, doc: 'The Kubernetes API port.' },
  namespace: { type: 'string', default: 'default', doc: 'The Kubernetes namespace holding the DTab objects.' },
};

export const consulFields: Fields = {
  host: { type: 'string', default: 'localhost', doc: 'The Consul agent host.' },
  port: { type: 'int', default: 8500, min: 1, max: 65535, doc: 'The Consul agent port.' },
  pathPrefix: { type: 'path', default: '/namerd/dtabs', doc: 'The KV path under which dtabs are stored.' },
  token: { type: 'string', doc: 'ACL token sent with every request.' },
  datacenter: { type: 'string', doc: "Datacenter to send requests to (default: the agent's)." },
  readConsistencyMode: { type: { enum: ['default', 'stale', 'consistent'] }, default: 'default' },
  writeConsistencyMode: { type: { enum: ['default', 'stale', 'consistent'] }, default: 'default' },
  failFast: {
    type: 'boolean',
    default: false,
    doc: "Accepted either way: a call fails at once when Consul cannot be reached and the next one tries again (Finagle's fail-fast marking of the host is not modelled).",
  },
  backoff: {
    type: { object: { kind: { type: 'string' }, ms: { type: 'int', min: 0 }, minMs: { type: 'int', min: 0 }, maxMs: { type: 'int', min: 0 } } },
    doc: 'Retry delay bounds for the watch after a failed request.',
  },
  tls: { type: { object: namerTlsFields }, doc: "HTTPS to Consul: Linkerd's namer TLS block (commonName, trustCerts, clientAuth, ...)." },
};
