/**
 * Linkerd's IngressCache, shared by the http and h2 `io.l5d.ingress` identifiers
 * (identifiers/ingress.ts, h2/identifiers.ts): the cluster's Ingress resources (one namespace,
 * or all), watched and read into rules, and the rule a request's host and path match. A match
 * names the request `dstPrefix / <namespace> / <port> / <service>`, which
 * `/svc => /#/io.l5d.k8s` then resolves to the service's endpoints. Each identifier reads the
 * host and path from its own protocol's request and calls `matchIngress` itself, so the watch
 * costs a request nothing.
 *
 * Matching, as Linkerd 1.x's IngressCache does it:
 * - ingresses are tried in the order the API server listed them, those added or changed later
 *   after them; within one, its rules and paths in order. The first match wins; when nothing
 *   matches, the first ingress with a default backend (`spec.backend`, `spec.defaultBackend`
 *   in networking.k8s.io/v1) takes the request, unless `ignoreDefaultBackends`;
 * - a rule's `host` must equal the request's host without its port (compared ignoring case,
 *   as DNS names are; `*.example.com` matches one label, as Kubernetes defines it); a rule
 *   without one matches any host;
 * - a path is a regular expression the whole request path (without the query) must match,
 *   Linkerd's reading of `extensions/v1beta1`; networking.k8s.io/v1's `pathType: Exact`
 *   compares the path and `Prefix` matches whole path elements; an empty path matches all;
 * - an ingress whose `kubernetes.io/ingress.class` annotation (or v1 `spec.ingressClassName`)
 *   names another class than `ingressClassAnnotation` (default `linkerd`) is left alone.
 *
 * The API: `networking.k8s.io/v1` (Kubernetes 1.19 and later), else `extensions/v1beta1`
 * (the group Linkerd 1.x read, gone since Kubernetes 1.22). The linker's servers listen once
 * the first list arrived (at most 10 s after start, `ready()`); a request before it is refused
 * (400) with that reason rather than held.
 */
import { createRequire } from 'node:module';
import type { Fields } from '../../config/schema.js';
import type * as K8sApiModule from '../../namers/k8s/api.js';
import type { CollectionState, K8sApi, K8sObject } from '../../namers/k8s/api.js';
import type { Closable } from '../../naming/contracts.js';
import { Path } from '../../naming/path.js';
import { booleanKey, numberKey, stringKey } from '../plugin-errors.js';
import type { Identifier, IdentifyRequest, IdentifyResult } from './identifier.js';
import { identified, unidentified } from './identifier.js';

export const KIND = 'io.l5d.ingress';
export const INGRESS_CLASS_ANNOTATION = 'kubernetes.io/ingress.class';

type Obj = Readonly<Record<string, unknown>>;

/** One rule path (or a default backend) and the name it gives. */
export interface IngressPath {
  readonly host: string | undefined;
  readonly path: string | undefined;
  readonly matchPath: (p: string) => boolean;
  readonly result: IdentifyResult;
}

export interface IngressSpec {
  readonly name: string;
  readonly namespace: string;
  readonly rules: readonly IngressPath[];
  readonly fallback: IngressPath | undefined;
}

const obj = (v: unknown): Obj | undefined => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Obj) : undefined);
const arr = (v: unknown): readonly unknown[] => (Array.isArray(v) ? v : []);
const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

/** A backend's service and port, in either API's shape; undefined for a resource backend. */
function backendOf(b: Obj | undefined): { svc: string; port: string } | undefined {
  if (b === undefined) return undefined;
  const v1beta1Name = str(b['serviceName']);
  if (v1beta1Name !== undefined) {
    const p = b['servicePort'];
    return typeof p === 'number' || typeof p === 'string' ? { svc: v1beta1Name, port: String(p) } : undefined;
  }
  const service = obj(b['service']);
  const name = str(service?.['name']);
  const port = obj(service?.['port']);
  const p = port?.['number'] ?? port?.['name'];
  if (name === undefined || (typeof p !== 'number' && typeof p !== 'string')) return undefined;
  return { svc: name, port: String(p) };
}

/** Kubernetes' `Prefix` path type: whole `/`-separated elements of the request path. */
function prefixMatcher(rulePath: string): (p: string) => boolean {
  const base = rulePath.replace(/\/+$/, '');
  if (base === '') return () => true;
  return (p) => p === base || (p.startsWith(base) && p.charCodeAt(base.length) === 47);
}

/** Linkerd's reading of a path: a regular expression the whole path must match. */
function regexMatcher(rulePath: string, warn: (m: string) => void): (p: string) => boolean {
  let re: RegExp;
  try {
    re = new RegExp(`^(?:${rulePath})$`);
  } catch (e) {
    warn(`path ${JSON.stringify(rulePath)} is not a regular expression (${(e as Error).message}); the rule never matches`);
    return () => false;
  }
  return (p) => re.test(p);
}

/**
 * The rules of one Ingress object, or undefined when it belongs to another ingress class.
 * `prefix` is the router's dstPrefix; `warn` reports rules that cannot be used.
 */
export function readIngress(o: K8sObject, ingressClass: string, ignoreDefaultBackends: boolean, prefix: Path, warn: (m: string) => void): IngressSpec | undefined {
  const meta = o.metadata;
  const annotations = obj(meta['annotations']);
  const spec = obj(o['spec']);
  const cls = str(annotations?.[INGRESS_CLASS_ANNOTATION]) ?? str(spec?.['ingressClassName']);
  if (cls !== undefined && cls !== ingressClass) return undefined;
  const namespace = meta.namespace ?? 'default';
  const where = `ingress ${namespace}/${meta.name}`;
  const named = (b: { svc: string; port: string }): IdentifyResult => identified(Path.fromElems([...prefix.elems, namespace, b.port, b.svc]));
  const rules: IngressPath[] = [];
  for (const r of arr(spec?.['rules'])) {
    const rule = obj(r);
    const host = str(rule?.['host'])?.toLowerCase();
    for (const x of arr(obj(rule?.['http'])?.['paths'])) {
      const p = obj(x);
      const b = backendOf(obj(p?.['backend']));
      const path = str(p?.['path']);
      if (b === undefined) {
        warn(`${where}: a path ${path ?? '(any)'} without a service backend is skipped`);
        continue;
      }
      const type = p?.['pathType'];
      const matchPath =
        path === undefined ? () => true : type === 'Exact' ? (q: string) => q === path : type === 'Prefix' ? prefixMatcher(path) : regexMatcher(path, (m) => warn(`${where}: ${m}`));
      rules.push({ host, path, matchPath, result: named(b) });
    }
  }
  let fallback: IngressPath | undefined;
  if (!ignoreDefaultBackends) {
    const b = backendOf(obj(spec?.['backend']) ?? obj(spec?.['defaultBackend']));
    if (b !== undefined) fallback = { host: undefined, path: undefined, matchPath: () => true, result: named(b) };
  }
  return { name: meta.name, namespace, rules, fallback };
}

/** A Host header's (or `:authority`'s) host without its port (`[v6]:port` keeps its brackets); null if unreadable. */
export function hostSansPort(host: string): string | null {
  if (host.charCodeAt(0) === 91 /* [ */) {
    const end = host.indexOf(']');
    if (end < 0) return null;
    const rest = host.slice(end + 1);
    return rest === '' || /^:\d*$/.test(rest) ? host.slice(0, end + 1).toLowerCase() : null;
  }
  const parts = host.split(':');
  if (parts.length > 2) return null;
  return parts[0]!.toLowerCase();
}

function hostMatches(rule: string, host: string | undefined): boolean {
  if (host === undefined) return false;
  if (rule.startsWith('*.')) {
    const dot = host.indexOf('.');
    return dot > 0 && host.slice(dot) === rule.slice(1);
  }
  return rule === host;
}

const NO_MATCH = unidentified('no ingress rule matches');
const BAD_HOST = unidentified('unable to parse the Host header', true);

/** The first matching rule, else the first default backend (Linkerd's getMatchingPath). */
export function matchIngress(ingresses: readonly IngressSpec[], hostHeader: string | undefined, path: string): IdentifyResult {
  let host: string | undefined;
  if (hostHeader !== undefined) {
    const h = hostSansPort(hostHeader);
    if (h === null) return BAD_HOST;
    host = h;
  }
  for (const ing of ingresses) {
    for (const r of ing.rules) {
      if (r.host !== undefined && !hostMatches(r.host, host)) continue;
      if (r.matchPath(path)) return r.result;
    }
  }
  for (const ing of ingresses) if (ing.fallback !== undefined) return ing.fallback.result;
  return NO_MATCH;
}

/**
 * The watch both identifiers extend: it keeps the current rules in `ingresses` and, until the
 * first list, the reason requests are refused in `notReady`. Subclasses add only `identify()`,
 * reading these fields directly (no indirection on the request path).
 */
export abstract class IngressCache implements Identifier {
  readonly kind = KIND;
  protected ingresses: readonly IngressSpec[] = [];
  /** Set once a list arrived; until then requests get `notReady`. */
  protected hasList = false;
  protected notReady: IdentifyResult;
  private readonly watch: Closable;
  private readonly warned = new Set<string>();
  private readonly listed: Promise<void>;
  private resolveListed: () => void = () => undefined;

  constructor(
    api: K8sApi,
    namespace: string | undefined,
    private readonly ingressClass: string,
    private readonly ignoreDefaultBackends: boolean,
    private readonly prefix: Path,
    private readonly log: (line: string) => void = (l) => process.stderr.write(l + '\n'),
  ) {
    const scope = namespace === undefined ? '' : `/namespaces/${encodeURIComponent(namespace)}`;
    const paths = [`/apis/networking.k8s.io/v1${scope}/ingresses`, `/apis/extensions/v1beta1${scope}/ingresses`];
    this.notReady = unidentified(`ingress resources not read yet from the Kubernetes API at ${api.host}:${api.port}`);
    this.listed = new Promise((resolve) => (this.resolveListed = resolve));
    this.watch = api.collection(paths).observe((s) => this.update(s));
  }

  abstract identify(req: IdentifyRequest): IdentifyResult;

  private update(s: CollectionState): void {
    if (s.type === 'pending') return;
    if (s.type === 'failed') {
      // The last rules read stay in force while the API is unreachable.
      if (!this.hasList) this.notReady = unidentified(`ingress resources unavailable: ${s.error.message}`);
      return;
    }
    const warn = (m: string): void => {
      if (this.warned.has(m)) return;
      this.warned.add(m);
      this.log(`${KIND}: ${m}`);
    };
    const out: IngressSpec[] = [];
    for (const o of s.items) {
      const spec = readIngress(o, this.ingressClass, this.ignoreDefaultBackends, this.prefix, warn);
      if (spec !== undefined) out.push(spec);
    }
    this.ingresses = out;
    this.hasList = true;
    this.resolveListed();
  }

  close(): void {
    this.watch.close();
    this.resolveListed();
  }

  /** Resolves at the first list, or after `timeoutMs` (reported: requests get 400 until then). */
  async ready(timeoutMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs)));
    const ok = await Promise.race([this.listed.then(() => true), late]);
    clearTimeout(timer);
    if (!ok) this.log(`${KIND}: no ingress list after ${timeoutMs} ms; serving (requests get 400 until it arrives)`);
  }
}

/** The keys of `io.l5d.ingress`, the same for http and h2 routers (as in Linkerd). */
export const ingressFields: Fields = {
  namespace: { type: 'string', doc: 'The namespace whose Ingress resources are read (default: all namespaces).' },
  ingressClassAnnotation: { type: 'string', default: 'linkerd', doc: `Ingresses whose ${INGRESS_CLASS_ANNOTATION} names another class are ignored.` },
  ignoreDefaultBackends: { type: 'boolean', default: false, doc: "Ignore the ingresses' default backends." },
  host: { type: 'string', default: 'localhost', doc: 'Kubernetes API host (kubectl proxy).' },
  port: { type: 'int', default: 8001, doc: 'Kubernetes API port.' },
};

/**
 * The Kubernetes API client, required when an `io.l5d.ingress` identifier is built: every
 * linker registers the kind, few use it.
 */
const requireHere = createRequire(import.meta.url);

/** The constructor arguments of an IngressCache subclass, read from an `io.l5d.ingress` config. */
export function ingressArgs(cfg: Readonly<Record<string, unknown>>, prefix: Path): [api: K8sApi, namespace: string | undefined, ingressClass: string, ignoreDefaultBackends: boolean, prefix: Path] {
  const host = stringKey(KIND, cfg, 'host', 'localhost');
  const port = numberKey(KIND, cfg, 'port', 8001, 1, 65535, true);
  const api = new (requireHere('../../namers/k8s/api.js') as typeof K8sApiModule).K8sApi(host, port);
  const namespace = cfg['namespace'] === undefined || cfg['namespace'] === null ? undefined : stringKey(KIND, cfg, 'namespace', undefined);
  return [api, namespace, stringKey(KIND, cfg, 'ingressClassAnnotation', 'linkerd'), booleanKey(KIND, cfg, 'ignoreDefaultBackends', false), prefix];
}
