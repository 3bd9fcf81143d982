/**
 * The naming core as the linker uses it: the parser, the binder over the configured namers
 * (plus the built-in `/$/` ones), each router's interpreter (local, a dtab file, or namerd)
 * and its transformers.
 */
import { createRequire } from 'node:module';
import type { LinkerdConfig, RouterConfig } from '../config/types.js';
import { Dtab, bind as bindPath, explainDelegation, readDtab, readPath, showNameTree } from '../naming/index.js';
import type * as DtabFile from '../interpreters/dtab-file.js';
import type * as Consul from '../interpreters/consul.js';
import type * as K8sConfigMap from '../interpreters/k8s-configmap.js';
import type { Path } from '../naming/path.js';
import { createNamers } from '../namers/registry.js';
import { createTransformers, transformBinder } from '../transformers/index.js';
import type { NamingDeps } from './linker.js';
import type * as Interpreters from '../interpreters/index.js';

/** Router interpreter kinds that bind through namerd (their modules load gRPC / HTTP / mux clients). */
const REMOTE_KINDS = new Set(['io.l5d.mesh', 'io.l5d.namerd.http', 'io.l5d.namerd']);

/**
 * The local interpreters' modules, required (synchronously) when a router uses their kind: the
 * consul one holds namerd's consul store and an HTTP client, the ConfigMap one the Kubernetes
 * API client, which a linker with the default interpreter should not load.
 */
const requireLocal = createRequire(import.meta.url);
const dtabFile = () => requireLocal('../interpreters/dtab-file.js') as typeof DtabFile;
const consul = () => requireLocal('../interpreters/consul.js') as typeof Consul;
const k8sConfigMap = () => requireLocal('../interpreters/k8s-configmap.js') as typeof K8sConfigMap;

/**
 * Loads the namerd interpreters only when a router uses one, and only the kinds used: the gRPC
 * stack alone is ~15 MB of a proxy's memory, which a linker binding with local namers (or
 * following namerd over thrift or HTTP) should not pay.
 */
export async function loadInterpreters(config: LinkerdConfig): Promise<typeof Interpreters | undefined> {
  const kinds = new Set(config.routers.map((r) => r.interpreter.kind as string).filter((k) => REMOTE_KINDS.has(k)));
  if (kinds.size === 0) return undefined;
  const m = await import('../interpreters/index.js');
  await m.loadInterpreterKinds(kinds);
  return m;
}

/** `interpreters`: from loadInterpreters(config), required when a router follows namerd. */
export function namingDeps(interpreters?: typeof Interpreters): NamingDeps<Dtab> {
  let namers: ReturnType<typeof createNamers> | undefined;
  let linker: LinkerdConfig | undefined;
  const remotes = new Map<string, Interpreters.RemoteInterpreter>();
  return {
    delegator(label: string) {
      const r = remotes.get(label);
      const d = r?.delegate;
      return d === undefined ? undefined : (dtab: Dtab, path: Path) => d.call(r, dtab, path);
    },
    close() {
      for (const r of remotes.values()) r.close();
      remotes.clear();
    },
    readDtab,
    readPath,
    binder(config: LinkerdConfig) {
      linker = config;
      namers = createNamers(config.namers as unknown as Parameters<typeof createNamers>[0], { file: config.file, readPath });
      const n = namers;
      return (dtab: Dtab, path: Path) => bindPath(dtab, path, n);
    },
    interpreter(router: RouterConfig, bind) {
      const transformers = createTransformers(router.interpreter['transformers'] as readonly Readonly<Record<string, unknown>>[] | undefined, {
        bindGlobal: (p: Path) => bindPath(Dtab.empty, p, { configured: [], global: namers?.global }),
      });
      // io.l5d.mesh / io.l5d.namerd.http / io.l5d.namerd: namerd binds instead of the local namers (as Linkerd);
      // the router's dtab (base ++ request dentries) is sent whole, as Linkerd sends it.
      const where = { file: linker?.file, keyPath: `routers[${linker ? linker.routers.indexOf(router) : 0}].interpreter` };
      const kind = router.interpreter.kind as string;
      if (REMOTE_KINDS.has(kind) && interpreters === undefined) throw new Error(`interpreter ${kind}: loadInterpreters() was not called`);
      // io.l5d.fs: the local namers under a dtab file's entries (read and watched), then the router's.
      // io.l5d.consul.interpreter: the same under the dtab namerd's consul store keeps in Consul.
      // io.l5d.k8s.configMap: the same under the dtab in one entry of a Kubernetes ConfigMap.
      const cfg = router.interpreter as Readonly<Record<string, unknown>>;
      const local = { bind, explain: (dtab: Dtab, path: Path) => explainDelegation(dtab, path, namers!, { showTree: showNameTree, timeoutMs: 2000 }) };
      const remote =
        kind === 'io.l5d.fs'
          ? new (dtabFile().DtabFileInterpreter)(cfg, { ...local, readDtab }, where)
          : kind === 'io.l5d.consul.interpreter'
            ? consul().consulInterpreter(cfg, local, where)
            : kind === 'io.l5d.k8s.configMap'
              ? k8sConfigMap().k8sConfigMapInterpreter(cfg, local, where)
              : interpreters?.namerdInterpreter(cfg, readPath, where);
      if (remote !== undefined) remotes.set(router.label, remote);
      const base = remote ? (dtab: Dtab, path: Path) => remote.bind(dtab, path) : bind;
      return transformBinder(transformers, base);
    },
  };
}
