/**
 * What every router keeps, whatever its protocol (the http router, router.ts; the h2 router,
 * h2/router.ts; the message routers of message-router.ts: thrift, mux and tcp): its label, the
 * request dtabs over its base dtab, the binding cache of bound trees by dtab and name, a
 * service per logical name and a client per bound id (both bounded by the `bindingCache`
 * settings, clients swept when idle), and the `client` and `service` prefix configs they are
 * made from. A protocol's router adds how a request is read, named and sent, and what its
 * services and clients are.
 */
import type { Activity, BoundName } from '../naming/contracts.js';
import type { NameTree } from '../naming/name-tree.js';
import type { Path } from '../naming/path.js';
import { BindingCache } from './binding-cache.js';
import { ClientCache, type CachedClient } from './client-cache.js';
import { RequestDtabs } from './request-dtabs.js';
import { routerCacheSettings } from './router-config.js';
import { PrefixConfigs } from './service-config.js';

type Obj = Readonly<Record<string, unknown>>;

/** A parsed dtab as the routers need it (the naming core's Dtab satisfies this). */
export interface DtabLike {
  readonly size: number;
  show(): string;
  concat(other: DtabLike): DtabLike;
}

/** What every router is built from (each protocol's deps add their own). */
export interface RouterBaseDeps<D extends DtabLike> {
  readonly label: string;
  readonly baseDtab: D;
  readonly parseDtab: (s: string) => D;
  /** Binds a name under a dtab (the interpreter, transformers applied). */
  readonly bind: (dtab: D, path: Path) => Activity<NameTree<BoundName>>;
  /** The raw `routers[i]` config (validated and defaulted by src/config). */
  readonly config: Obj;
}

export abstract class RouterBase<D extends DtabLike, C extends CachedClient, S> {
  readonly label: string;
  readonly bindings: BindingCache;
  /** How long a request waits for a pending binding, then for a client's pending addresses. */
  readonly bindingTimeoutMs: number;
  /** The router's dtab as text (the binding cache's key without a request dtab). */
  readonly baseDtabText: string;
  protected readonly requestDtabs: RequestDtabs<D>;
  protected readonly clientCache: ClientCache<C>;
  /** The client cache's map, read directly by the request path. */
  protected readonly clients: Map<string, C>;
  protected readonly clientConfigs: PrefixConfigs;
  private readonly services = new Map<string, S>();
  private readonly serviceCapacity: number;
  private readonly serviceConfigs: PrefixConfigs;

  constructor(deps: RouterBaseDeps<D>) {
    const cfg = deps.config;
    this.label = deps.label;
    const cache = routerCacheSettings(cfg);
    this.bindingTimeoutMs = cache.bindingTimeoutMs;
    this.serviceCapacity = cache.serviceCapacity;
    this.clientCache = new ClientCache(cache.clientCapacity, cache.idleTtlMs);
    this.clients = this.clientCache.byId;
    this.requestDtabs = new RequestDtabs(deps.baseDtab, deps.parseDtab);
    this.baseDtabText = this.requestDtabs.baseText;
    this.bindings = new BindingCache((dtabKey, path) => deps.bind(this.requestDtabs.get(dtabKey), path), cache.treeCapacity, cache.idleTtlMs);
    this.clientConfigs = new PrefixConfigs(cfg['client'] as Obj | undefined);
    this.serviceConfigs = new PrefixConfigs(cfg['service'] as Obj | undefined);
  }

  /** A new service for the logical name `key`, from its `service` config `p`. */
  protected abstract makeService(p: Obj, key: string): S;

  /** The service of the logical name `dst` (`key`: its text), made on first use; past the capacity the oldest is dropped. */
  protected serviceFor(dst: Path, key: string): S {
    const known = this.services.get(key);
    if (known !== undefined) return known;
    const svc = this.makeService(this.serviceConfigs.paramsFor(dst), key);
    const services = this.services;
    services.set(key, svc);
    if (services.size > this.serviceCapacity) services.delete(services.keys().next().value as string);
    return svc;
  }

  /** A branch of a bound tree for one request (unions are weighted, alternates fall through). */
  pick(tree: NameTree<BoundName>): BoundName | undefined {
    return pickLeaf(tree);
  }

  /** Client stacks for the admin's client state: id -> endpoints with their state. */
  clientSnapshot(): Record<string, unknown> {
    return this.clientCache.snapshot();
  }

  /** Bound names with a client (admin `/bound-names.json`). */
  boundNames(): string[] {
    return this.clientCache.ids();
  }

  close(): void {
    this.bindings.close();
    this.clientCache.close();
    this.services.clear();
  }
}

/** Evaluates a bound tree for one request: a weighted random choice through unions. */
export function pickLeaf(tree: NameTree<BoundName>, rng: () => number = Math.random): BoundName | undefined {
  for (let depth = 0; depth < 100; depth++) {
    switch (tree.type) {
      case 'leaf':
        return tree.value;
      case 'union': {
        let total = 0;
        for (const w of tree.trees) if (w.weight > 0) total += w.weight;
        if (total <= 0) return undefined;
        let r = rng() * total;
        let chosen = tree.trees[tree.trees.length - 1]!.tree;
        for (const w of tree.trees) {
          if (w.weight <= 0) continue;
          r -= w.weight;
          if (r < 0) {
            chosen = w.tree;
            break;
          }
        }
        tree = chosen;
        break;
      }
      case 'alt': {
        const next = tree.trees.find((t) => t.type !== 'neg');
        if (next === undefined) return undefined;
        tree = next;
        break;
      }
      default:
        return undefined;
    }
  }
  return undefined;
}
