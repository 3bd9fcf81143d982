/**
 * io.l5d.k8s: paths `/<namespace>/<port-name-or-number>/<service>[/residual]` bind to the
 * ready addresses of the service's Endpoints (each Address carries `nodeName` metadata, as
 * Linkerd's, for the daemonset/localnode transformers). A service with no Endpoints object
 * is Neg; a named port that the endpoints do not expose is Neg. A numeric port element is
 * used as the target port directly.
 *
 * `labelSelector` is accepted and recorded but not applied yet (not built).
 */
import { Activity, PENDING, failed, ok } from '../../naming/activity.js';
import { ADDR_NEG, ADDR_PENDING, type Addr, type Address } from '../../naming/addr.js';
import { addrEquals, boundName } from '../../naming/bound.js';
import type { ActivityState, BoundName, Name, NameNamer } from '../../naming/contracts.js';
import { NEG, leaf, type NameTree } from '../../naming/name-tree.js';
import { Path } from '../../naming/path.js';
import { map } from '../../naming/var.js';
import { K8sApi, type K8sObject, type ObjectState } from './api.js';

interface EndpointPort {
  readonly name?: string;
  readonly port: number;
}
interface EndpointAddress {
  readonly ip: string;
  readonly nodeName?: string;
}
interface Subset {
  readonly addresses?: readonly EndpointAddress[];
  readonly ports?: readonly EndpointPort[];
}

const MAX_BOUND_NAMES = 10_000;

function isPortNumber(s: string): boolean {
  if (!/^[0-9]+$/.test(s)) return false;
  const n = Number(s);
  return n > 0 && n <= 65535;
}

/** Ready addresses of an Endpoints object for a port name (or number); undefined if the named port is absent. */
export function endpointsAddr(obj: K8sObject, port: string): Addr | undefined {
  const subsets = (obj['subsets'] as readonly Subset[] | undefined) ?? [];
  const numeric = isPortNumber(port) ? Number(port) : undefined;
  const addrs: Address[] = [];
  let portFound = numeric !== undefined;
  for (const ss of subsets) {
    let p: number | undefined = numeric;
    if (p === undefined) {
      const named = ss.ports?.find((x) => x.name === port);
      if (!named) continue;
      p = named.port;
      portFound = true;
    }
    for (const a of ss.addresses ?? []) {
      addrs.push({ host: a.ip, port: p, meta: a.nodeName !== undefined ? { nodeName: a.nodeName } : {} });
    }
  }
  if (!portFound) return undefined;
  addrs.sort((x, y) => (x.host < y.host ? -1 : x.host > y.host ? 1 : x.port - y.port));
  return { type: 'bound', addrs, meta: {} };
}

function toAddr(s: ObjectState, port: string): Addr {
  if (s.type === 'pending') return ADDR_PENDING;
  if (s.type === 'missing') return ADDR_NEG;
  if (s.type === 'failed') return { type: 'failed', cause: s.error };
  return endpointsAddr(s.object, port) ?? ADDR_NEG;
}

export class K8sNamer implements NameNamer {
  private readonly bounds = new Map<string, BoundName>();

  constructor(
    readonly api: K8sApi,
    readonly prefix: Path,
    readonly labelSelector?: string,
  ) {}

  lookup(path: Path): Activity<NameTree<Name>> {
    if (path.size < 3) return Activity.value<NameTree<Name>>(NEG);
    const [ns, port, svc] = path.utf8Elems as [string, string, string];
    const residual = path.drop(3);
    const eps = this.api.object(ns, 'endpoints', svc);
    const states = map<ObjectState, ActivityState<NameTree<Name>>>(eps, (s) => {
      if (s.type === 'pending') return PENDING;
      if (s.type === 'failed') return failed(s.error);
      if (s.type === 'missing') return ok<NameTree<Name>>(NEG);
      if (endpointsAddr(s.object, port) === undefined) return ok<NameTree<Name>>(NEG);
      return ok<NameTree<Name>>(leaf<Name>(this.bound(ns, port, svc, residual)));
    }, (a, b) => a === b || (a.type === b.type && a.type === 'ok' && (a.value === (b as { value: unknown }).value)) || (a.type === 'pending' && b.type === 'pending'));
    return new Activity(states);
  }

  private bound(ns: string, port: string, svc: string, residual: Path): BoundName {
    const key = `${ns}/${port}/${svc}\u0000${residual.show()}`;
    let b = this.bounds.get(key);
    if (!b) {
      if (this.bounds.size >= MAX_BOUND_NAMES) this.bounds.clear();
      const addr = map(this.api.object(ns, 'endpoints', svc), (s) => toAddr(s, port), addrEquals);
      b = boundName(this.prefix.concat(Path.utf8(ns, port, svc)), addr, residual);
      this.bounds.set(key, b);
    }
    return b;
  }
}
