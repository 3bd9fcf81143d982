/**
 * The storage registry: every `storage.kind` namerd builds, under its exact Linkerd name.
 * Adding a store is one module with a DtabStore and one entry here. The specs register with
 * the config area so namerd.yaml validates against them (their keys are in ./fields.js); the
 * store modules load only when a store of that kind is created, so a linker, which registers
 * every kind, holds none of them, and heavy client libraries (etcd3/gRPC,
 * node-zookeeper-client) load only when such a store is used.
 */
import { createRequire } from 'node:module';
import { lazyPluginSpecs } from '../../config/lazy-plugins.js';
import { registerPlugin } from '../../config/plugins.js';
import type { PluginSpec } from '../../config/schema.js';
import { NamerdError } from '../errors.js';
import { consulFields, etcdFields, inMemoryFields, k8sFields, zkFields } from './fields.js';
import type * as LazyStore from './lazy-store.js';
import type { DtabStore, StoreContext } from './store.js';

export type StorageSpec = PluginSpec<any, DtabStore, StoreContext>;

/** Requires lazy-store.js when the first etcd, zk, k8s or consul store is made. */
const requireHere = createRequire(import.meta.url);

function lazy(kind: string, fields: StorageSpec['fields'], load: (config: any) => Promise<DtabStore>, experimental = false): StorageSpec {
  return {
    category: 'storage',
    kind,
    fields,
    ...(experimental ? { experimental } : {}),
    create: (config) => new (requireHere('./lazy-store.js') as typeof LazyStore).LazyDtabStore(kind, () => load(config)),
  };
}

export const STORAGE_SPECS: readonly StorageSpec[] = [
  ...lazyPluginSpecs<StorageSpec>('storage', import.meta.url, [
    { kind: 'io.l5d.inMemory', module: './in-memory.js', spec: 'inMemoryStorage', fields: inMemoryFields },
  ]),
  // Linkerd demands `experimental: true` for etcd, but its own namerd/examples/etcd.yaml omits
  // it and the compat corpus must load: Meshwork accepts etcd without the flag.
  lazy('io.l5d.etcd', etcdFields, async (c) => new (await import('./etcd.js')).EtcdDtabStore(c)),
  lazy('io.l5d.zk', zkFields, async (c) => {
    const { ZkDtabStore } = await import('./zk.js');
    return new ZkDtabStore({ ...c, acls: Array.isArray(c.acls) && c.acls.length > 0 ? c.acls : undefined });
  }),
  lazy('io.l5d.k8s', k8sFields, async (c) => new (await import('./k8s.js')).K8sDtabStore(c)),
  lazy('io.l5d.consul', consulFields, async (c) => new (await import('./consul.js')).ConsulDtabStore(c)),
];

const registry = new Map<string, StorageSpec>(STORAGE_SPECS.map((s) => [s.kind, s]));
for (const spec of STORAGE_SPECS) registerPlugin(spec);

export function storageKinds(): string[] {
  return [...registry.keys()].sort();
}

export function getStorageSpec(kind: string): StorageSpec | undefined {
  return registry.get(kind);
}

/**
 * Builds the store a validated `storage:` object names. An unknown kind is a config error
 * naming the file, the key, what was found and the kinds we build.
 */
export function createStore(config: { readonly kind: string; readonly [k: string]: unknown }, ctx: StoreContext = {}): DtabStore {
  const spec = registry.get(config.kind);
  if (spec?.create === undefined) {
    throw new NamerdError(
      'MESH_ERR_STORAGE_KIND',
      `${ctx.file ?? 'namerd config'}: storage.kind: unknown storage kind ${JSON.stringify(config.kind)}; supported: ${storageKinds().join(', ')}`,
    );
  }
  return spec.create(config, ctx);
}
