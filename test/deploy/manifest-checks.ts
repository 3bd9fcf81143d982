/**
 * Static checks of the Kubernetes manifests that run Meshwork (deploy/kubernetes/*.yaml), for a
 * repository with no cluster to apply them to. Each check takes parsed manifests and returns
 * its problems, one line each (`<file>: <Kind>/<name>: what is wrong`); none means it passed.
 *
 * What the configs need from Kubernetes is derived from the kinds they use, mirroring what the
 * code asks the API server for (see API_NEEDS below), so a config change that needs a new
 * permission, port or environment variable fails here before it fails in a cluster.
 */
import { posix } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { checkLinkerdObject, checkNamerdObject, detectConfigKind, parseConfigText } from '../../src/config/load.js';
import { ConfigError } from '../../src/config/errors.js';
import type { LinkerdConfig, NamerdConfig, PluginConfig } from '../../src/config/types.js';
import { API_GROUP, API_VERSION, PLURAL, RESOURCE_KIND } from '../../src/namerd/stores/k8s.js';
import { dentriesOf, readStoredDtab } from '../../src/namerd/stores/dtab-codec.js';
// The kinds a config may use are the ones the CLI registers.
import '../../src/config/builtin-plugins.js';

export type Obj = Record<string, unknown>;

export interface Manifest {
  readonly file: string;
  readonly docs: Obj[];
}

/** The image the repository's Dockerfile builds (`docker build -t meshwork:0.1.0 .`). */
export const MESHWORK_IMAGE = 'meshwork:0.1.0';
const COMMANDS = ['linkerd', 'namerd'] as const;
const KUBECTL_PROXY_DEFAULT_PORT = 8001;
const WRITE_VERBS = new Set(['create', 'update', 'patch', 'delete', 'deletecollection', 'escalate', 'bind', 'impersonate', '*']);

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const obj = (v: unknown): Obj => (isObj(v) ? v : {});
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const objs = (v: unknown): Obj[] => arr(v).filter(isObj);
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const nameOf = (doc: Obj): string => str(obj(doc['metadata'])['name']) ?? '<no name>';
const nsOf = (doc: Obj): string => str(obj(doc['metadata'])['namespace']) ?? 'default';
const label = (doc: Obj): string => `${str(doc['kind']) ?? '<no kind>'}/${nameOf(doc)}`;
const ofKind = (docs: readonly Obj[], kind: string): Obj[] => docs.filter((d) => d['kind'] === kind);

/** Parses every YAML document of a manifest file; empty documents (a leading `---`) are skipped. */
export function parseManifest(file: string, text: string): Manifest {
  const docs: Obj[] = [];
  for (const d of parseAllDocuments(text)) {
    if (d.errors.length > 0) throw new Error(`${file}: ${d.errors[0]!.message}`);
    const v: unknown = d.toJS();
    if (v === null || v === undefined) continue;
    docs.push(isObj(v) ? v : { '<not an object>': v });
  }
  return { file, docs };
}

export function checkDocuments(m: Manifest): string[] {
  const out: string[] = [];
  m.docs.forEach((d, i) => {
    const missing = [
      typeof d['apiVersion'] === 'string' ? undefined : 'apiVersion',
      typeof d['kind'] === 'string' ? undefined : 'kind',
      typeof obj(d['metadata'])['name'] === 'string' ? undefined : 'metadata.name',
    ].filter((x) => x !== undefined);
    if (missing.length > 0) out.push(`${m.file}: document ${i + 1}: no ${missing.join(', ')}`);
  });
  return out;
}

// ---- mesh configs held in ConfigMaps -------------------------------------------------------

export interface MeshConfig {
  readonly where: string;
  readonly namespace: string;
  readonly configMap: string;
  readonly key: string;
  readonly kind: 'linkerd' | 'namerd';
  /** Undefined when the loader refused it (`problems`). */
  readonly linkerd?: LinkerdConfig;
  readonly namerd?: NamerdConfig;
  readonly problems: readonly string[];
}

/** Every ConfigMap entry that is a linkerd.yaml or namerd.yaml, loaded as `meshwork` loads it. */
export function meshConfigs(m: Manifest): MeshConfig[] {
  const out: MeshConfig[] = [];
  for (const cm of ofKind(m.docs, 'ConfigMap')) {
    for (const [key, text] of Object.entries(obj(cm['data']))) {
      if (typeof text !== 'string') continue;
      const where = `${m.file}: ${label(cm)} key ${key}`;
      let raw: unknown;
      try {
        raw = parseConfigText(text, where);
      } catch (e) {
        if (!(e instanceof ConfigError)) throw e;
        // Only a .yaml/.yml entry that does not parse is taken for a broken config.
        if (/\.ya?ml$/.test(key)) out.push({ where, namespace: nsOf(cm), configMap: nameOf(cm), key, kind: 'linkerd', problems: e.errors.map((i) => i.message) });
        continue;
      }
      const kind = detectConfigKind(raw);
      if (kind === undefined) continue;
      const base = { where, namespace: nsOf(cm), configMap: nameOf(cm), key, kind };
      try {
        out.push(kind === 'linkerd' ? { ...base, linkerd: checkLinkerdObject(raw, where), problems: [] } : { ...base, namerd: checkNamerdObject(raw, where), problems: [] });
      } catch (e) {
        if (!(e instanceof ConfigError)) throw e;
        out.push({ ...base, problems: e.errors.map((i) => i.message) });
      }
    }
  }
  return out;
}

export function checkConfigs(m: Manifest): string[] {
  return meshConfigs(m).flatMap((c) => c.problems);
}

interface Listener {
  readonly what: string;
  readonly ip: string;
  readonly port: number;
}

/** The ports a config listens on: router servers, namerd interfaces, admin. */
export function listeners(c: MeshConfig): Listener[] {
  const out: Listener[] = [];
  const admin = c.linkerd?.admin ?? c.namerd?.admin;
  c.linkerd?.routers.forEach((r, i) =>
    r.servers.forEach((s, j) => out.push({ what: `routers[${i}].servers[${j}] (${r.label})`, ip: s.ip, port: s.port })),
  );
  c.namerd?.interfaces.forEach((f, i) => out.push({ what: `interfaces[${i}] (${f.kind})`, ip: String(f['ip']), port: Number(f['port']) }));
  if (admin !== undefined) {
    out.push({ what: 'admin', ip: admin.ip, port: admin.port });
    if (admin.httpIdentifierPort !== undefined) out.push({ what: 'admin.httpIdentifierPort', ip: admin.ip, port: admin.httpIdentifierPort });
  }
  return out;
}

// ---- what a config needs from the Kubernetes API -------------------------------------------

export interface Need {
  readonly group: string;
  readonly resource: string;
  readonly verbs: readonly string[];
  /** `*`: names may carry any namespace. */
  readonly namespace: string;
  /** Set when the code reads one named object (a rule may then name it in resourceNames). */
  readonly name?: string;
  readonly why: string;
}

export interface ApiUse {
  readonly why: string;
  readonly host: string;
  readonly port: number;
  readonly needs: readonly Need[];
}

/**
 * Verbs, as the code uses the API:
 * - src/namers/k8s/api.ts `object()`: list + watch of the object's collection, narrowed to its name
 *   (`fieldSelector=metadata.name=<name>`);
 * - src/router/identifiers/ingress-cache.ts: list + watch of a collection;
 * - src/namerd/stores/k8s.ts: list + watch of the DTab collection, GET one, POST, PUT, DELETE.
 */
const READ_ONE = ['list', 'watch'];
const LIST_WATCH = ['list', 'watch'];
const DTAB_STORE = ['get', 'list', 'watch', 'create', 'update', 'delete'];

function plugins(v: unknown): PluginConfig[] {
  return objs(v).filter((p): p is PluginConfig => typeof p['kind'] === 'string');
}

/** Every transformer of a config: on namers and on router interpreters. */
function transformersOf(c: MeshConfig): Array<{ at: string; t: PluginConfig }> {
  const namers = c.linkerd?.namers ?? c.namerd?.namers ?? [];
  const out = namers.flatMap((n, i) => plugins(n.transformers).map((t, j) => ({ at: `namers[${i}].transformers[${j}]`, t })));
  c.linkerd?.routers.forEach((r, i) => plugins(r.interpreter['transformers']).forEach((t, j) => out.push({ at: `routers[${i}].interpreter.transformers[${j}]`, t })));
  return out;
}

const hostPort = (p: PluginConfig, h = 'host', n = 'port'): { host: string; port: number } => ({
  host: str(p[h]) ?? 'localhost',
  port: typeof p[n] === 'number' ? (p[n] as number) : KUBECTL_PROXY_DEFAULT_PORT,
});

export function apiUses(c: MeshConfig): ApiUse[] {
  const out: ApiUse[] = [];
  (c.linkerd?.namers ?? c.namerd?.namers ?? []).forEach((n, i) => {
    const why = `${n.kind} namer (namers[${i}])`;
    const ns = '*';
    const needs: Need[] =
      n.kind === 'io.l5d.k8s' || n.kind === 'io.l5d.k8s.ns'
        ? [
            { group: '', resource: 'endpoints', verbs: READ_ONE, namespace: ns, why },
            // A numeric port element is mapped to its targetPort through the Service.
            { group: '', resource: 'services', verbs: READ_ONE, namespace: ns, why },
          ]
        : n.kind === 'io.l5d.k8s.external'
          ? [{ group: '', resource: 'services', verbs: READ_ONE, namespace: ns, why }]
          : [];
    if (needs.length > 0) out.push({ why, ...hostPort(n), needs });
  });
  for (const { at, t } of transformersOf(c)) {
    if (t.kind !== 'io.l5d.k8s.daemonset') continue;
    const why = `${t.kind} transformer (${at})`;
    const need: Need = { group: '', resource: 'endpoints', verbs: READ_ONE, namespace: String(t['namespace']), name: String(t['service']), why };
    out.push({ why, ...hostPort(t, 'k8sHost', 'k8sPort'), needs: [need] });
  }
  c.linkerd?.routers.forEach((r, i) =>
    (r.identifier ?? []).forEach((id, j) => {
      if (id.kind !== 'io.l5d.ingress') return;
      const why = `${id.kind} identifier (routers[${i}].identifier[${j}])`;
      const ns = str(id['namespace']) ?? '*';
      // networking.k8s.io/v1 first; extensions/v1beta1 is only asked when a cluster does not serve it.
      out.push({ why, ...hostPort(id), needs: [{ group: 'networking.k8s.io', resource: 'ingresses', verbs: LIST_WATCH, namespace: ns, why }] });
    }),
  );
  const storage = c.namerd?.storage;
  if (storage?.kind === 'io.l5d.k8s') {
    const why = 'io.l5d.k8s storage';
    out.push({ why, ...hostPort(storage), needs: [{ group: API_GROUP, resource: PLURAL, verbs: DTAB_STORE, namespace: str(storage['namespace']) ?? 'default', why }] });
  }
  return out;
}

/** Environment variables the config's plugins read at start. */
export function envNeeds(c: MeshConfig): Array<{ name: string; why: string }> {
  const out: Array<{ name: string; why: string }> = [];
  for (const { at, t } of transformersOf(c)) {
    if (t.kind === 'io.l5d.k8s.localnode') out.push({ name: t['hostNetwork'] === true ? 'NODE_NAME' : 'POD_IP', why: `${t.kind} transformer (${at})` });
  }
  (c.linkerd?.namers ?? c.namerd?.namers ?? []).forEach((n, i) => {
    if (n.kind === 'io.l5d.k8s.ns') out.push({ name: str(n['envVar']) ?? 'POD_NAMESPACE', why: `${n.kind} namer (namers[${i}])` });
  });
  return out;
}

// ---- pod templates and the meshwork containers in them -------------------------------------

export interface PodTemplate {
  readonly owner: Obj;
  readonly where: string;
  readonly namespace: string;
  readonly labels: Readonly<Record<string, unknown>>;
  readonly spec: Obj;
}

const WORKLOADS = ['Deployment', 'DaemonSet', 'StatefulSet', 'ReplicaSet', 'Job'];

export function podTemplates(m: Manifest): PodTemplate[] {
  const out: PodTemplate[] = [];
  for (const d of m.docs) {
    if (WORKLOADS.includes(String(d['kind']))) {
      const t = obj(obj(d['spec'])['template']);
      out.push({ owner: d, where: `${m.file}: ${label(d)}`, namespace: nsOf(d), labels: obj(obj(t['metadata'])['labels']), spec: obj(t['spec']) });
    } else if (d['kind'] === 'Pod') {
      out.push({ owner: d, where: `${m.file}: ${label(d)}`, namespace: nsOf(d), labels: obj(obj(d['metadata'])['labels']), spec: obj(d['spec']) });
    }
  }
  return out;
}

/** `registry/path/name:tag` → `name`. */
function imageName(image: string): string {
  const last = image.split('/').pop() ?? '';
  return last.split('@')[0]!.split(':')[0]!;
}

const containersOf = (t: PodTemplate): Obj[] => objs(t.spec['containers']);

/** A container port by number or by name, as a Service's targetPort or a probe names it. */
function findPort(containers: readonly Obj[], target: unknown): { container: Obj; port: number } | undefined {
  for (const c of containers) {
    for (const p of objs(c['ports'])) {
      if ((typeof target === 'number' && p['containerPort'] === target) || (typeof target === 'string' && p['name'] === target)) {
        return { container: c, port: Number(p['containerPort']) };
      }
    }
  }
  return undefined;
}

/** The ports a `kubectl proxy` container of the pod listens on (127.0.0.1 unless told). */
function kubectlProxyPorts(t: PodTemplate): number[] {
  const out: number[] = [];
  for (const c of containersOf(t)) {
    if (imageName(str(c['image']) ?? '') !== 'kubectl') continue;
    const words = [...arr(c['command']), ...arr(c['args'])].map(String);
    if (!words.includes('proxy')) continue;
    let port = KUBECTL_PROXY_DEFAULT_PORT;
    words.forEach((w, i) => {
      const m = /^(?:--port|-p)=(\d+)$/.exec(w) ?? /^-p(\d+)$/.exec(w);
      if (m) port = Number(m[1]);
      else if ((w === '--port' || w === '-p') && /^\d+$/.test(words[i + 1] ?? '')) port = Number(words[i + 1]);
    });
    out.push(port);
  }
  return out;
}

export interface MeshContainer {
  readonly template: PodTemplate;
  readonly container: Obj;
  readonly where: string;
  readonly config?: MeshConfig;
  readonly problems: readonly string[];
}

/** Every container running the meshwork image, with the config its args name. */
export function meshContainers(m: Manifest): MeshContainer[] {
  const configs = meshConfigs(m);
  const out: MeshContainer[] = [];
  for (const t of podTemplates(m)) {
    for (const c of containersOf(t)) {
      const image = str(c['image']) ?? '';
      if (imageName(image) !== 'meshwork') continue;
      const where = `${t.where}: container ${String(c['name'])}`;
      const problems: string[] = [];
      const done = (config?: MeshConfig): void => void out.push({ template: t, container: c, where, problems, ...(config ? { config } : {}) });
      if (image !== MESHWORK_IMAGE) problems.push(`${where}: image ${image}, expected ${MESHWORK_IMAGE}`);
      if (c['command'] !== undefined) problems.push(`${where}: 'command' replaces the image's entrypoint (bin/meshwork.js); give 'args' only`);
      const args = arr(c['args']);
      const [cmd, path] = args;
      if (args.length !== 2 || !(COMMANDS as readonly unknown[]).includes(cmd) || typeof path !== 'string' || !path.startsWith('/')) {
        problems.push(`${where}: args ${JSON.stringify(args)}, expected [linkerd|namerd, /absolute/path/to/config]`);
        done();
        continue;
      }
      const dir = posix.dirname(path);
      const key = posix.basename(path);
      const mount = objs(c['volumeMounts']).find((vm) => String(vm['mountPath']).replace(/\/+$/, '') === dir && vm['subPath'] === undefined);
      if (mount === undefined) {
        problems.push(`${where}: no volume is mounted at ${dir}, where args read ${path}`);
        done();
        continue;
      }
      const volume = objs(t.spec['volumes']).find((v) => v['name'] === mount['name']);
      const cmName = str(obj(volume?.['configMap'])['name']);
      if (cmName === undefined) {
        problems.push(`${where}: the volume mounted at ${dir} (${String(mount['name'])}) is not a ConfigMap`);
        done();
        continue;
      }
      const config = configs.find((x) => x.configMap === cmName && x.namespace === t.namespace && x.key === key);
      if (config === undefined) {
        const cm = ofKind(m.docs, 'ConfigMap').find((d) => nameOf(d) === cmName && nsOf(d) === t.namespace);
        problems.push(
          cm === undefined
            ? `${where}: ConfigMap ${cmName}, mounted at ${dir}, is not in this file`
            : `${where}: ConfigMap ${cmName} has no ${cmd} config under key ${key} (keys: ${Object.keys(obj(cm['data'])).join(', ') || 'none'}), which args read at ${path}`,
        );
        done();
        continue;
      }
      if (config.kind !== cmd) problems.push(`${where}: args run '${cmd}' on ${path}, which is a ${config.kind} config`);
      done(config);
    }
  }
  return out;
}

const isLoopback = (ip: string): boolean => ip === 'localhost' || ip === '::1' || ip.startsWith('127.');

/** The meshwork containers: image, args, mounted config, ports, environment and kubectl proxy. */
export function checkMeshContainers(m: Manifest): string[] {
  const services = ofKind(m.docs, 'Service');
  const out: string[] = [];
  for (const mc of meshContainers(m)) {
    out.push(...mc.problems);
    const { config, container: c, template: t, where } = mc;
    if (config === undefined || config.problems.length > 0) continue;
    const ls = listeners(config);
    const ports = objs(c['ports']);
    for (const l of ls) {
      if (!ports.some((p) => p['containerPort'] === l.port && (p['protocol'] ?? 'TCP') === 'TCP')) {
        out.push(`${where}: ${l.what} listens on ${l.port}, which is not a containerPort (${ports.map((p) => String(p['containerPort'])).join(', ') || 'none'})`);
      }
    }
    for (const p of ports) {
      const n = p['containerPort'];
      if (!ls.some((l) => l.port === n)) out.push(`${where}: containerPort ${String(n)} (${String(p['name'])}) is no port the ${config.kind} config listens on`);
      if (p['hostPort'] !== undefined && p['hostPort'] !== n) out.push(`${where}: hostPort ${String(p['hostPort'])} differs from containerPort ${String(n)}`);
    }
    // Ports reached from outside the pod's loopback must not be bound to it.
    const reached = new Map<number, string>();
    for (const p of ports) if (p['hostPort'] !== undefined) reached.set(Number(p['containerPort']), 'host port');
    for (const s of services) {
      if (nsOf(s) !== t.namespace || !selects(obj(obj(s['spec'])['selector']), t.labels)) continue;
      for (const sp of objs(obj(s['spec'])['ports'])) {
        const hit = findPort([c], sp['targetPort'] ?? sp['port']);
        if (hit) reached.set(hit.port, `${label(s)}`);
      }
    }
    for (const probe of ['readinessProbe', 'livenessProbe', 'startupProbe']) {
      const p = obj(c[probe]);
      const target = obj(p['httpGet'])['port'] ?? obj(p['tcpSocket'])['port'];
      const hit = target === undefined ? undefined : findPort([c], target);
      if (hit) reached.set(hit.port, probe);
    }
    for (const l of ls) {
      const by = reached.get(l.port);
      if (by !== undefined && isLoopback(l.ip)) out.push(`${where}: ${l.what} listens on ${l.ip}:${l.port}, which the ${by} cannot reach`);
    }
    const env = objs(c['env']).map((e) => e['name']);
    for (const e of envNeeds(config)) {
      if (!env.includes(e.name)) out.push(`${where}: the ${e.why} reads the environment variable ${e.name}, which the container does not set`);
    }
    const proxies = kubectlProxyPorts(t);
    for (const u of apiUses(config)) {
      if (isLoopback(u.host) && !proxies.includes(u.port)) {
        out.push(`${where}: the ${u.why} reads the Kubernetes API at ${u.host}:${u.port}, and no kubectl proxy container of the pod listens there (${proxies.join(', ') || 'none'})`);
      }
    }
  }
  return out;
}

// ---- Services ------------------------------------------------------------------------------

function selects(selector: Obj, labels: Readonly<Record<string, unknown>>): boolean {
  const entries = Object.entries(selector);
  return entries.length > 0 && entries.every(([k, v]) => labels[k] === v);
}

/** Services select a pod template of their file and target its ports; workloads select their own template. */
export function checkServices(m: Manifest): string[] {
  const out: string[] = [];
  const templates = podTemplates(m);
  for (const t of templates) {
    if (t.owner['kind'] === 'Pod' || t.owner['kind'] === 'Job') continue;
    const sel = obj(obj(obj(t.owner['spec'])['selector'])['matchLabels']);
    if (!selects(sel, t.labels)) out.push(`${t.where}: spec.selector.matchLabels ${JSON.stringify(sel)} does not match the template's labels ${JSON.stringify(t.labels)}`);
  }
  for (const s of ofKind(m.docs, 'Service')) {
    const where = `${m.file}: ${label(s)}`;
    const selector = obj(obj(s['spec'])['selector']);
    const matched = templates.filter((t) => t.namespace === nsOf(s) && selects(selector, t.labels));
    if (matched.length === 0) {
      out.push(`${where}: selector ${JSON.stringify(selector)} matches no pod template in this file`);
      continue;
    }
    for (const sp of objs(obj(s['spec'])['ports'])) {
      const target = sp['targetPort'] ?? sp['port'];
      if (!matched.some((t) => findPort(containersOf(t), target) !== undefined)) {
        out.push(`${where}: port ${String(sp['name'] ?? sp['port'])} targets ${JSON.stringify(target)}, which no container of ${matched.map((t) => label(t.owner)).join(', ')} exposes`);
      }
    }
  }
  return out;
}

// ---- RBAC ----------------------------------------------------------------------------------

interface Grant {
  /** `*` for a ClusterRoleBinding. */
  readonly namespace: string;
  readonly rule: Obj;
  readonly from: string;
}

function grantsFor(docs: readonly Obj[], sa: string, ns: string, problems: string[], file: string): Grant[] {
  const out: Grant[] = [];
  for (const b of docs.filter((d) => d['kind'] === 'ClusterRoleBinding' || d['kind'] === 'RoleBinding')) {
    const bindingNs = b['kind'] === 'RoleBinding' ? nsOf(b) : undefined;
    const subject = objs(b['subjects']).some((s) => s['kind'] === 'ServiceAccount' && s['name'] === sa && (str(s['namespace']) ?? bindingNs) === ns);
    if (!subject) continue;
    const ref = obj(b['roleRef']);
    const role = docs.find((d) => d['kind'] === ref['kind'] && nameOf(d) === ref['name'] && (ref['kind'] === 'ClusterRole' || nsOf(d) === bindingNs));
    if (role === undefined) {
      problems.push(`${file}: ${label(b)}: roleRef ${String(ref['kind'])}/${String(ref['name'])} is not in this file`);
      continue;
    }
    for (const rule of objs(role['rules'])) out.push({ namespace: bindingNs ?? '*', rule, from: `${label(role)} via ${label(b)}` });
  }
  return out;
}

const has = (list: unknown, v: string): boolean => arr(list).includes(v) || arr(list).includes('*');

function covers(g: Grant, n: Need, verb: string): boolean {
  const r = g.rule;
  if (!has(r['apiGroups'], n.group) || !has(r['resources'], n.resource) || !has(r['verbs'], verb)) return false;
  if (g.namespace !== '*' && g.namespace !== n.namespace) return false;
  const names = arr(r['resourceNames']);
  return names.length === 0 || (n.name !== undefined && names.includes(n.name));
}

const resourceLabel = (group: string, resource: string): string => (group === '' ? resource : `${resource}.${group}`);

/** Per ServiceAccount: what the configs of the pods running as it need from the API. */
export function rbacNeeds(m: Manifest): Map<string, Need[]> {
  const out = new Map<string, Need[]>();
  for (const mc of meshContainers(m)) {
    if (mc.config === undefined || mc.config.problems.length > 0) continue;
    const sa = `${mc.template.namespace}/${str(mc.template.spec['serviceAccountName']) ?? 'default'}`;
    const needs = apiUses(mc.config).flatMap((u) => u.needs);
    out.set(sa, [...(out.get(sa) ?? []), ...needs]);
  }
  return out;
}

/** The ServiceAccounts' roles grant what the configs read and write, and nothing they do not. */
export function checkRbac(m: Manifest): string[] {
  const out: string[] = [];
  for (const [key, needs] of rbacNeeds(m)) {
    const [ns, sa] = key.split('/') as [string, string];
    const where = `${m.file}: ServiceAccount ${key}`;
    if (sa !== 'default' && !ofKind(m.docs, 'ServiceAccount').some((d) => nameOf(d) === sa && nsOf(d) === ns)) out.push(`${where}: not in this file`);
    const grants = grantsFor(m.docs, sa, ns, out, m.file);
    for (const n of needs) {
      for (const verb of n.verbs) {
        if (!grants.some((g) => covers(g, n, verb))) {
          out.push(`${where}: the ${n.why} needs '${verb}' on ${resourceLabel(n.group, n.resource)} in ${n.namespace === '*' ? 'every namespace' : `namespace ${n.namespace}`}, which no role bound to it grants`);
        }
      }
    }
    for (const g of grants) {
      for (const group of arr(g.rule['apiGroups']).map(String)) {
        for (const resource of arr(g.rule['resources']).map(String)) {
          const wanted = needs.filter((n) => (group === '*' || n.group === group) && (resource === '*' || n.resource === resource));
          if (wanted.length === 0) {
            out.push(`${where}: ${g.from} grants ${resourceLabel(group, resource)}, which no config reads`);
            continue;
          }
          // Reads (get, list, watch) may be granted together; a write must be one the code makes.
          for (const verb of arr(g.rule['verbs']).map(String)) {
            if (WRITE_VERBS.has(verb) && !wanted.some((n) => n.verbs.includes(verb))) out.push(`${where}: ${g.from} grants '${verb}' on ${resourceLabel(group, resource)}, which no config does`);
          }
        }
      }
    }
  }
  return out;
}

// ---- the DTab CustomResourceDefinition -----------------------------------------------------

/** The object src/namerd/stores/k8s.ts writes for a namespace (its private `object()`). */
export function storedDtabObject(): Obj {
  return {
    apiVersion: `${API_GROUP}/${API_VERSION}`,
    kind: RESOURCE_KIND,
    metadata: { name: 'default', resourceVersion: '1' },
    dentries: dentriesOf(readStoredDtab('/svc=>/#/io.l5d.k8s/default/http;/svc/world=>/srv/world-v1')),
  };
}

const JSON_TYPES: Record<string, (v: unknown) => boolean> = {
  object: isObj,
  array: Array.isArray,
  string: (v) => typeof v === 'string',
  integer: (v) => Number.isInteger(v),
  number: (v) => typeof v === 'number',
  boolean: (v) => typeof v === 'boolean',
};

/** Where a structural schema would reject `value` or prune a field of it (Kubernetes' rules). */
function schemaProblems(value: unknown, schema: Obj, at: string): string[] {
  const out: string[] = [];
  const type = str(schema['type']);
  if (type !== undefined && !(JSON_TYPES[type]?.(value) ?? true)) return [`${at || '<root>'}: a ${type} is required, the store writes ${JSON.stringify(value)}`];
  if (isObj(value)) {
    for (const r of arr(schema['required'])) if (!(String(r) in value)) out.push(`${at || '<root>'}: requires ${String(r)}, which the store does not write`);
    const props = obj(schema['properties']);
    const keep = schema['x-kubernetes-preserve-unknown-fields'] === true || isObj(schema['additionalProperties']) || schema['additionalProperties'] === true;
    for (const [k, v] of Object.entries(value)) {
      if (at === '' && (k === 'apiVersion' || k === 'kind' || k === 'metadata')) continue;
      const p = props[k];
      if (isObj(p)) out.push(...schemaProblems(v, p, at === '' ? k : `${at}.${k}`));
      else if (isObj(schema['additionalProperties'])) out.push(...schemaProblems(v, schema['additionalProperties'], `${at}.${k}`));
      else if (!keep) out.push(`${at === '' ? k : `${at}.${k}`}: not in the schema, so Kubernetes would prune it`);
    }
  }
  if (Array.isArray(value) && isObj(schema['items'])) value.forEach((v, i) => out.push(...schemaProblems(v, schema['items'] as Obj, `${at}[${i}]`)));
  return out;
}

/** The dtabs.l5d.io CRD is there when a namerd config stores dtabs in Kubernetes, and fits the store. */
export function checkCrds(m: Manifest): string[] {
  const out: string[] = [];
  const crdName = `${PLURAL}.${API_GROUP}`;
  const crd = ofKind(m.docs, 'CustomResourceDefinition').find((d) => nameOf(d) === crdName);
  const stores = meshConfigs(m).some((c) => c.namerd?.storage.kind === 'io.l5d.k8s');
  if (crd === undefined) return stores ? [`${m.file}: a namerd config stores dtabs in Kubernetes (io.l5d.k8s), and there is no CustomResourceDefinition ${crdName}`] : [];
  const where = `${m.file}: ${label(crd)}`;
  const spec = obj(crd['spec']);
  const names = obj(spec['names']);
  if (crd['apiVersion'] !== 'apiextensions.k8s.io/v1') out.push(`${where}: apiVersion ${String(crd['apiVersion'])}, expected apiextensions.k8s.io/v1`);
  if (spec['group'] !== API_GROUP) out.push(`${where}: group ${String(spec['group'])}, the store uses ${API_GROUP}`);
  if (names['plural'] !== PLURAL) out.push(`${where}: plural ${String(names['plural'])}, the store uses ${PLURAL}`);
  if (names['kind'] !== RESOURCE_KIND) out.push(`${where}: kind ${String(names['kind'])}, the store writes ${RESOURCE_KIND}`);
  if (spec['scope'] !== 'Namespaced') out.push(`${where}: scope ${String(spec['scope'])}; the store keeps DTabs in a namespace (Namespaced)`);
  const versions = objs(spec['versions']);
  const v = versions.find((x) => x['name'] === API_VERSION);
  if (v === undefined) {
    out.push(`${where}: versions ${versions.map((x) => String(x['name'])).join(', ') || 'none'}; the store reads and writes ${API_VERSION}`);
    return out;
  }
  if (v['served'] !== true || v['storage'] !== true) out.push(`${where}: version ${API_VERSION} must be served and the storage version`);
  const schema = obj(obj(v['schema'])['openAPIV3Schema']);
  if (Object.keys(schema).length === 0) out.push(`${where}: version ${API_VERSION} has no schema.openAPIV3Schema (apiextensions.k8s.io/v1 requires one)`);
  else out.push(...schemaProblems(storedDtabObject(), schema, '').map((p) => `${where}: ${p}`));
  return out;
}

// ---- references between manifests ---------------------------------------------------------

/** The namerd interface each namerd interpreter speaks to. */
const INTERFACE_OF: Record<string, string> = {
  'io.l5d.mesh': 'io.l5d.mesh',
  'io.l5d.namerd': 'io.l5d.thriftNameInterpreter',
  'io.l5d.namerd.http': 'io.l5d.httpController',
};

interface Target {
  readonly service: Obj;
  readonly mc?: MeshContainer;
  readonly port?: number;
}

/** A Service port's target: the meshwork container and port behind it, if any. */
function serviceTarget(ms: readonly Manifest[], name: string, ns: string, port: (sp: Obj) => boolean): Target | string {
  for (const m of ms) {
    const s = ofKind(m.docs, 'Service').find((d) => nameOf(d) === name && nsOf(d) === ns);
    if (s === undefined) continue;
    const sp = objs(obj(s['spec'])['ports']).find(port);
    if (sp === undefined) return `Service ${ns}/${name} (${m.file}) has no such port (${objs(obj(s['spec'])['ports']).map((p) => `${String(p['name'])}:${String(p['port'])}`).join(', ')})`;
    const selector = obj(obj(s['spec'])['selector']);
    for (const mc of meshContainers(m)) {
      if (mc.template.namespace !== ns || !selects(selector, mc.template.labels)) continue;
      const hit = findPort([mc.container], sp['targetPort'] ?? sp['port']);
      if (hit) return { service: s, mc, port: hit.port };
    }
    return { service: s };
  }
  return `no Service ${ns}/${name} in ${ms.map((m) => m.file).join(', ')}`;
}

/** Interpreters reach namerd's interface through its Service; daemonset transformers name the linkers' Service. */
export function checkReferences(ms: readonly Manifest[]): string[] {
  const out: string[] = [];
  for (const m of ms) {
    for (const mc of meshContainers(m)) {
      const c = mc.config?.linkerd;
      if (c === undefined) continue;
      c.routers.forEach((r, i) => {
        const iface = INTERFACE_OF[String(r.interpreter.kind)];
        if (iface === undefined) return;
        const where = `${mc.where}: routers[${i}].interpreter (${r.interpreter.kind})`;
        const dst = /^\/\$\/inet\/([a-z0-9-]+)\.([a-z0-9-]+)\.svc(?:\.[a-z0-9.-]+)?\/(\d+)$/.exec(String(r.interpreter['dst']));
        if (dst === null) return; // an address, not a Service: nothing here to check it against
        const [, name, ns, port] = dst as unknown as [string, string, string, string];
        const t = serviceTarget(ms, name, ns, (sp) => sp['port'] === Number(port));
        if (typeof t === 'string') return void out.push(`${where}: dst ${String(r.interpreter['dst'])}: ${t}`);
        const ok = t.mc?.config?.namerd?.interfaces.some((f) => f.kind === iface && f['port'] === t.port);
        if (!ok) out.push(`${where}: dst ${String(r.interpreter['dst'])} reaches ${t.port === undefined ? 'no meshwork container' : `port ${t.port} of ${t.mc!.where}`}, not a namerd ${iface} interface`);
      });
      for (const { at, t: tr } of transformersOf(mc.config!)) {
        if (tr.kind !== 'io.l5d.k8s.daemonset') continue;
        const where = `${mc.where}: ${at} (${tr.kind})`;
        // A port name is a Service port's name (Endpoints carry those); a number is the pods' port.
        const want = String(tr['port']);
        const t = serviceTarget(ms, String(tr['service']), String(tr['namespace']), (sp) => sp['name'] === want || String(sp['targetPort'] ?? sp['port']) === want);
        if (typeof t === 'string') {
          out.push(`${where}: ${t}`);
          continue;
        }
        const ok = t.mc?.config?.linkerd?.routers.some((r) => r.servers.some((s) => s.port === t.port));
        if (!ok) out.push(`${where}: port ${want} of Service ${String(tr['namespace'])}/${String(tr['service'])} reaches no router of a linker`);
      }
    }
  }
  return out;
}
