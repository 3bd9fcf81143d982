/**
 * The top-level linkerd.yaml schema (linkerd/docs/config.md): admin, routers, namers,
 * telemetry, usage. A router's keys depend on its `protocol`, so routers are checked here in
 * code; everything else is plain `Fields`.
 */
import type { Fields } from './schema.js';
import type { ClientConfig, LinkerdConfig, PluginConfig, RouterConfig, ServiceConfig } from './types.js';
import { Validator, isObject, joinKey, show, type Obj } from './validate.js';
import { getPlugin, kinds } from './plugins.js';
import {
  PROTOCOLS,
  type ProtocolName,
  adminFields,
  classifierPrefix,
  clientParams,
  identifierCategory,
  serverFields,
  serversMayBeOmitted,
  serviceParams,
} from './router-fields.js';

export const linkerdFields: Fields = {
  admin: { type: { object: adminFields(9990) }, default: {} },
  routers: { type: { array: 'any' }, required: true },
  namers: { type: { array: { plugin: 'namer' } }, default: [] },
  telemetry: { type: { array: { plugin: 'telemeter' } }, default: [] },
  // Accepted for compatibility; Meshwork never sends usage data anywhere.
  usage: { type: { object: { orgId: { type: 'string' }, enabled: { type: 'boolean', default: true } } }, default: {} },
};

/** Validates a whole parsed linkerd.yaml; returns undefined when the root is not an object. */
export function checkLinkerd(v: Validator, raw: unknown): LinkerdConfig | undefined {
  if (raw === null || raw === undefined) {
    v.issue('MESH_ERR_CONFIG_TYPE', '', raw, ['object'], "empty config; expected an object with 'routers'");
    return undefined;
  }
  const top = v.fields(raw, linkerdFields, '');
  if (top === undefined) return undefined;
  const routers: RouterConfig[] = [];
  const rawRouters = isObject(raw) ? raw['routers'] : undefined;
  if (Array.isArray(rawRouters)) {
    if (rawRouters.length === 0) {
      v.issue('MESH_ERR_CONFIG_INVALID', 'routers', rawRouters, ['at least one router'], 'at least one router is required');
    }
    rawRouters.forEach((r, i) => {
      const checked = checkRouter(v, r, `routers[${i}]`);
      if (checked !== undefined) routers.push(checked);
    });
    checkConflicts(v, routers);
  }
  return {
    file: v.file,
    admin: top['admin'] as LinkerdConfig['admin'],
    routers,
    namers: (top['namers'] ?? []) as LinkerdConfig['namers'],
    telemetry: (top['telemetry'] ?? []) as PluginConfig[],
    usage: top['usage'] as LinkerdConfig['usage'],
  };
}

export function checkRouter(v: Validator, raw: unknown, path: string): RouterConfig | undefined {
  if (!isObject(raw)) {
    v.issue('MESH_ERR_CONFIG_TYPE', path, raw, ['object'], `expected object, found ${show(raw)}`);
    return undefined;
  }
  const protocol = raw['protocol'];
  const known = kinds('protocol');
  if (protocol === undefined || protocol === null) {
    v.issue('MESH_ERR_CONFIG_MISSING_KEY', joinKey(path, 'protocol'), undefined, known, `required key 'protocol' missing; ${v.kindList('protocol')}`);
    return undefined;
  }
  const spec = typeof protocol === 'string' ? getPlugin('protocol', protocol) : undefined;
  if (spec === undefined || !(PROTOCOLS as readonly string[]).includes(protocol as string)) {
    v.issue('MESH_ERR_CONFIG_UNKNOWN_KIND', joinKey(path, 'protocol'), protocol, known, `unknown protocol ${show(protocol)}; ${v.kindList('protocol')}`);
    return undefined;
  }
  const p = protocol as ProtocolName;
  const out = v.fields(raw, spec.fields, path);
  if (out === undefined) return undefined;
  if (spec.create === undefined) v.notSupported(p, joinKey(path, 'protocol'), p);
  else v.experimental(spec, raw, path);

  out['label'] ??= p;
  out['servers'] = checkServers(v, p, raw['servers'], joinKey(path, 'servers'));
  out['client'] = checkPrefixed(v, raw['client'], joinKey(path, 'client'), clientParams(p)) as ClientConfig;
  out['service'] = checkPrefixed(v, raw['service'], joinKey(path, 'service'), serviceParams(p)) as ServiceConfig;
  checkClassifiers(v, p, out['service'] as ServiceConfig, joinKey(path, 'service'));
  const idCategory = identifierCategory[p];
  const rawId = raw['identifier'];
  if (idCategory !== undefined && rawId !== undefined && rawId !== null) {
    const ids = Array.isArray(rawId)
      ? rawId.map((x, i) => v.plugin(x, idCategory, `${joinKey(path, 'identifier')}[${i}]`))
      : [v.plugin(rawId, idCategory, joinKey(path, 'identifier'))];
    out['identifier'] = ids.filter((x): x is Obj => x !== undefined);
  } else {
    delete out['identifier'];
  }
  return out as unknown as RouterConfig;
}

function checkServers(v: Validator, p: ProtocolName, raw: unknown, path: string): Obj[] {
  const fields = serverFields(p);
  if (raw === undefined || raw === null) {
    // thrift, thriftmux and mux are served on their default port without a `servers:` list.
    if (serversMayBeOmitted(p)) return [v.fields({}, fields, `${path}[0]`)!];
    return []; // `servers` is required for this protocol: reported by the router's field check
  }
  if (!Array.isArray(raw)) return []; // already reported by the router's field check
  const out: Obj[] = [];
  raw.forEach((s, i) => {
    const c = v.fields(s, fields, `${path}[${i}]`);
    if (c !== undefined) out.push(c);
  });
  return out;
}

const PREFIXED_KINDS = ['io.l5d.global', 'io.l5d.static'];

/** `client:` / `service:` — io.l5d.global (default) or io.l5d.static with prefixed configs. */
function checkPrefixed(v: Validator, raw: unknown, path: string, params: Fields): ClientConfig | ServiceConfig {
  if (raw === undefined || raw === null) return { kind: 'io.l5d.global', configs: [] };
  if (!isObject(raw)) {
    v.issue('MESH_ERR_CONFIG_TYPE', path, raw, ['object'], `expected object, found ${show(raw)}`);
    return { kind: 'io.l5d.global', configs: [] };
  }
  const kind = raw['kind'] ?? 'io.l5d.global';
  if (kind === 'io.l5d.global') {
    const c = v.fields(raw, { kind: { type: 'string' }, ...params }, path);
    if (c === undefined) return { kind, configs: [] };
    delete c['kind'];
    return { kind, configs: [{ prefix: '/', ...c }] };
  }
  if (kind === 'io.l5d.static') {
    const top = v.fields(raw, { kind: { type: 'string' }, configs: { type: { array: 'any' }, required: true } }, path);
    const configs: Array<Obj & { prefix: string }> = [];
    const rawConfigs = raw['configs'];
    if (top !== undefined && Array.isArray(rawConfigs)) {
      const fields: Fields = { prefix: { type: 'string', required: true }, ...params };
      rawConfigs.forEach((c, i) => {
        const cp = `${joinKey(path, 'configs')}[${i}]`;
        const checked = v.fields(c, fields, cp);
        if (checked === undefined) return;
        const prefix = checked['prefix'];
        if (typeof prefix !== 'string') return;
        if (!prefix.startsWith('/')) {
          v.issue('MESH_ERR_CONFIG_BAD_PATH', joinKey(cp, 'prefix'), prefix, ['path starting with /'], `bad prefix ${show(prefix)}: must start with '/'`);
          return;
        }
        configs.push(checked as Obj & { prefix: string });
      });
    }
    return { kind, configs };
  }
  v.issue('MESH_ERR_CONFIG_UNKNOWN_KIND', joinKey(path, 'kind'), kind, PREFIXED_KINDS, `unknown kind ${show(kind)}; supported: ${PREFIXED_KINDS.join(', ')}`);
  return { kind: 'io.l5d.global', configs: [] };
}

/** HTTP/1.1 routers take io.l5d.http.* classifiers, h2 routers io.l5d.h2.* (Linkerd's split). */
function checkClassifiers(v: Validator, p: ProtocolName, service: ServiceConfig, path: string): void {
  const prefix = classifierPrefix[p];
  service.configs.forEach((c, i) => {
    const rc = c.responseClassifier;
    if (rc === undefined) return;
    const allowed = prefix === undefined ? [] : kinds('responseClassifier').filter((k) => k.startsWith(prefix));
    if (allowed.includes(rc.kind)) return;
    const at = service.kind === 'io.l5d.global' ? path : `${path}.configs[${i}]`;
    v.issue('MESH_ERR_CONFIG_UNKNOWN_KIND', `${at}.responseClassifier.kind`, rc.kind, allowed,
      `kind '${rc.kind}' is not a ${p} response classifier; ${p} routers take: ${allowed.join(', ') || '(none)'}`);
  });
}

/** Linkerd refuses two routers with one label and two servers on one ip:port. */
function checkConflicts(v: Validator, routers: RouterConfig[]): void {
  const labels = new Map<string, number>();
  const ports = new Map<string, string>();
  routers.forEach((r, i) => {
    const seen = labels.get(r.label);
    if (seen !== undefined) {
      v.issue('MESH_ERR_CONFIG_INVALID', `routers[${i}].label`, r.label, [],
        `router label '${r.label}' is already used by routers[${seen}]; labels must be unique`);
    } else labels.set(r.label, i);
    r.servers.forEach((s, j) => {
      if (s.port === 0) return; // port 0: the OS picks, never a conflict
      const key = `${s.ip}:${s.port}`;
      const here = `routers[${i}].servers[${j}]`;
      const other = ports.get(key);
      if (other !== undefined) {
        v.issue('MESH_ERR_CONFIG_INVALID', `${here}.port`, s.port, [], `server ${key} conflicts with ${other}`);
      } else ports.set(key, here);
    });
  });
}
