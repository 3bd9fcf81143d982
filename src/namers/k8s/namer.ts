/**
 * io.l5d.k8s: paths `/<namespace>/<port-name-or-number>/<service>[/residual]` bind to the
 * ready addresses of the service's Endpoints (each Address carries `nodeName` metadata, as
 * Linkerd's, for the daemonset/localnode transformers). A service with no Endpoints object
 * is Neg; a named port that the endpoints do not expose is Neg. A numeric port element is
 * used as the target port directly.
 *
 * As in Linkerd, the elements that name the object are read in lower case (Kubernetes names
 * are), and with `labelSelector: <key>` a name has one more element, the label's value:
 * `/<namespace>/<port>/<service>/<value>` binds only while the service's objects carry the
 * label `<key>=<value>` (Neg otherwise, and without the element).
 */
import { Activity, PENDING, failed, ok } from '../../naming/activity.js';
import { ADDR_NEG, ADDR_PENDING, type Addr, type Address } from '../../naming/addr.js';
import { addrEquals, boundName } from '../../naming/bound.js';
import type { ActivityState, BoundName, Name, NameNamer } from '../../naming/contracts.js';
import { NEG, leaf, type NameTree } from '../../naming/name-tree.js';
import { Path } from '../../naming/path.js';
import { collect, map, type BaseVar } from '../../naming/var.js';
import { K8sApi, OBJ_MISSING, type K8sObject, type ObjectState } from './api.js';

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

interface ServicePort {
  readonly name?: string;
  readonly port: number;
}
interface LoadBalancerIngress {
  readonly ip?: string;
  readonly hostname?: string;
}

/**
 * io.l5d.k8s.external: a Service's load balancer ingress addresses (ip, else hostname) on the
 * service port named (or numbered) `port`; undefined if the service has no such port.
 */
export function externalAddr(obj: K8sObject, port: string): Addr | undefined {
  const spec = obj['spec'] as { ports?: readonly ServicePort[] } | undefined;
  const numeric = isPortNumber(port) ? Number(port) : undefined;
  const sp = spec?.ports?.find((x) => (numeric !== undefined ? x.port === numeric : x.name === port));
  if (!sp) return undefined;
  const status = obj['status'] as { loadBalancer?: { ingress?: readonly LoadBalancerIngress[] } } | undefined;
  const addrs: Address[] = [];
  for (const i of status?.loadBalancer?.ingress ?? []) {
    const host = i.ip ?? i.hostname;
    if (host !== undefined) addrs.push({ host, port: sp.port, meta: {} });
  }
  return { type: 'bound', addrs, meta: {} };
}

/**
 * A numeric port element of io.l5d.k8s is a service port: the Service maps it to its
 * targetPort (a number, or a name looked up in the endpoints). Without a Service or a matching
 * service port, the number is used as the endpoint port directly.
 */
export function targetPort(svc: ObjectState, port: string): string {
  if (svc.type !== 'found') return port;
  const ports = (svc.object['spec'] as { ports?: readonly { port: number; targetPort?: number | string }[] } | undefined)?.ports;
  const n = Number(port);
  const sp = ports?.find((x) => x.port === n);
  if (sp === undefined || sp.targetPort === undefined) return port;
  return String(sp.targetPort);
}

export type ObjectAddr = (obj: K8sObject, port: string) => Addr | undefined;

/** The object as a `labelSelector` watch sees it: one without the label `key=value` is missing. */
export function withLabel(s: ObjectState, key: string, value: string): ObjectState {
  if (s.type !== 'found') return s;
  const labels = s.object.metadata['labels'] as Readonly<Record<string, unknown>> | undefined;
  return labels?.[key] === value ? s : OBJ_MISSING;
}

function toAddr(s: ObjectState, port: string, f: ObjectAddr): Addr {
  if (s.type === 'pending') return ADDR_PENDING;
  if (s.type === 'missing') return ADDR_NEG;
  if (s.type === 'failed') return { type: 'failed', cause: s.error };
  return f(s.object, port) ?? ADDR_NEG;
}

interface Resolved {
  readonly state: ObjectState;
  readonly port: string;
}

function resolvedEquals(a: Resolved, b: Resolved): boolean {
  if (a.port !== b.port || a.state.type !== b.state.type) return false;
  if (a.state === b.state) return true;
  if (a.state.type === 'found') return a.state.object.metadata.resourceVersion === (b.state as { object: K8sObject }).object.metadata.resourceVersion;
  return a.state.type !== 'failed';
}

/** A name's label selector: the namer's `labelSelector` key and the value the name gives. */
interface Selector {
  readonly key: string;
  readonly value: string;
}

export interface K8sNamerOptions {
  /** `endpoints` (io.l5d.k8s, default) or `services` (io.l5d.k8s.external). */
  readonly plural?: 'endpoints' | 'services';
  /** io.l5d.k8s.ns: a fixed namespace; paths are then `/<port>/<service>`. */
  readonly namespace?: string;
}

export class K8sNamer implements NameNamer {
  private readonly bounds = new Map<string, BoundName>();
  private readonly plural: 'endpoints' | 'services';
  private readonly toAddr: ObjectAddr;

  constructor(
    readonly api: K8sApi,
    readonly prefix: Path,
    readonly labelSelector?: string,
    readonly options: K8sNamerOptions = {},
  ) {
    this.plural = options.plural ?? 'endpoints';
    this.toAddr = this.plural === 'services' ? externalAddr : endpointsAddr;
  }

  lookup(path: Path): Activity<NameTree<Name>> {
    const fixed = this.options.namespace;
    const label = this.labelSelector;
    const base = fixed === undefined ? 3 : 2;
    const n = label === undefined ? base : base + 1;
    if (path.size < n) return Activity.value<NameTree<Name>>(NEG);
    const e = path.utf8Elems.slice(0, n).map((x) => x.toLowerCase());
    const [ns, port, svc] = fixed === undefined ? (e as [string, string, string]) : [fixed, e[0]!, e[1]!];
    const sel = label === undefined ? undefined : { key: label, value: e[base]! };
    const residual = path.drop(n);
    const eps = this.resolved(ns, port, svc, sel);
    const objAddr = this.toAddr;
    const states = map<Resolved, ActivityState<NameTree<Name>>>(eps, ({ state: s, port: target }) => {
      if (s.type === 'pending') return PENDING;
      if (s.type === 'failed') return failed(s.error);
      if (s.type === 'missing') return ok<NameTree<Name>>(NEG);
      if (objAddr(s.object, target) === undefined) return ok<NameTree<Name>>(NEG);
      return ok<NameTree<Name>>(leaf<Name>(this.bound(e, ns, port, svc, sel, residual)));
    }, (a, b) => a === b || (a.type === b.type && a.type === 'ok' && (a.value === (b as { value: unknown }).value)) || (a.type === 'pending' && b.type === 'pending'));
    return new Activity(states);
  }

  /** One watched object, seen through the name's label selector when there is one. */
  private object(ns: string, plural: string, name: string, sel: Selector | undefined): BaseVar<ObjectState> {
    const v = this.api.object(ns, plural, name);
    return sel === undefined ? v : map(v, (s) => withLabel(s, sel.key, sel.value));
  }

  /** The watched object with the port to read from it (numeric endpoints ports via the Service). */
  private resolved(ns: string, port: string, svc: string, sel: Selector | undefined): BaseVar<Resolved> {
    const obj = this.object(ns, this.plural, svc, sel);
    if (this.plural !== 'endpoints' || !isPortNumber(port)) return map(obj, (state): Resolved => ({ state, port }), resolvedEquals);
    const service = this.object(ns, 'services', svc, sel);
    return map(
      collect<ObjectState>([obj, service]),
      ([state, s]): Resolved => (s!.type === 'pending' ? { state: { type: 'pending' }, port } : { state: state!, port: targetPort(s!, port) }),
      resolvedEquals,
    );
  }

  /** `id`: the name's elements that name the object (the bound id after the prefix). */
  private bound(id: readonly string[], ns: string, port: string, svc: string, sel: Selector | undefined, residual: Path): BoundName {
    const key = `${id.join('/')}\u0000${residual.show()}`;
    let b = this.bounds.get(key);
    if (!b) {
      if (this.bounds.size >= MAX_BOUND_NAMES) this.bounds.clear();
      const f = this.toAddr;
      const addr = map(this.resolved(ns, port, svc, sel), (r) => toAddr(r.state, r.port, f), addrEquals);
      b = boundName(this.prefix.concat(Path.utf8(...id)), addr, residual);
      this.bounds.set(key, b);
    }
    return b;
  }
}
