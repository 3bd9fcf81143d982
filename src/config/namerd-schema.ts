/**
 * The top-level namerd.yaml schema (namerd/docs/config.md): admin (port 9991), storage,
 * namers, interfaces, telemetry. As namerd does, namer prefixes must be non-empty and must not
 * overlap (namerd has no precedence between namers, unlike Linkerd).
 */
import { isIP } from 'node:net';
import type { Fields } from './schema.js';
import type { NamerdConfig, NamerConfig, PluginConfig } from './types.js';
import { Validator, isObject, show } from './validate.js';
import { adminFields } from './router-fields.js';

export const namerdFields: Fields = {
  admin: { type: { object: adminFields(9991) }, default: {} },
  storage: { type: { plugin: 'storage' }, required: true },
  namers: { type: { array: { plugin: 'namer' } }, default: [] },
  interfaces: { type: { array: { plugin: 'namerdInterface' } }, required: true },
  telemetry: { type: { array: { plugin: 'telemeter' } }, default: [] },
};

export function checkNamerd(v: Validator, raw: unknown): NamerdConfig | undefined {
  if (raw === null || raw === undefined) {
    v.issue('MESH_ERR_CONFIG_TYPE', '', raw, ['object'], "empty config; expected an object with 'storage' and 'interfaces'");
    return undefined;
  }
  const top = v.fields(raw, namerdFields, '');
  if (top === undefined) return undefined;
  const rawInterfaces = isObject(raw) ? raw['interfaces'] : undefined;
  if (Array.isArray(rawInterfaces) && rawInterfaces.length === 0) {
    v.issue('MESH_ERR_CONFIG_INVALID', 'interfaces', rawInterfaces, ['at least one interface'], 'at least one interface is required');
  }
  const namers = (top['namers'] ?? []) as NamerConfig[];
  checkPrefixes(v, isObject(raw) && Array.isArray(raw['namers']) ? raw['namers'] : []);
  if (Array.isArray(rawInterfaces)) rawInterfaces.forEach((r, i) => checkXdsEnvoy(v, r, `interfaces[${i}]`));
  return {
    file: v.file,
    admin: top['admin'] as NamerdConfig['admin'],
    storage: top['storage'] as PluginConfig,
    namers,
    interfaces: (top['interfaces'] ?? []) as PluginConfig[],
    telemetry: (top['telemetry'] ?? []) as PluginConfig[],
  };
}

function elems(prefix: string): string[] {
  return prefix.split('/').filter((e) => e !== '');
}

function overlaps(a: string[], b: string[]): boolean {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return false;
  return true;
}

function checkPrefixes(v: Validator, raw: unknown[]): void {
  // Indexes into the raw list: a namer dropped for another error must not shift the key paths.
  const seen: Array<{ index: number; prefix: string; elems: string[] }> = [];
  raw.forEach((r, index) => {
    if (!isObject(r)) return;
    // The same default as the namer schema: a namer without `prefix` is reached at /#/<kind>.
    const prefix = typeof r['prefix'] === 'string' ? r['prefix'] : typeof r['kind'] === 'string' ? '/' + r['kind'] : undefined;
    if (prefix === undefined) return;
    const e = elems(prefix);
    const path = `namers[${index}].prefix`;
    if (e.length === 0) {
      v.issue('MESH_ERR_CONFIG_INVALID', path, prefix, ['a non-empty prefix'], `namer prefix must not be empty`);
      return;
    }
    const clash = seen.find((s) => overlaps(s.elems, e));
    if (clash !== undefined) {
      v.issue('MESH_ERR_CONFIG_INVALID', path, prefix, [], `namer prefix ${prefix} overlaps namers[${clash.index}].prefix ${clash.prefix}`);
      return;
    }
    seen.push({ index, prefix, elems: e });
  });
}

/**
 * A service name namerd can give Envoy a virtual host for: one dtab path element that is also a
 * host name a Host header can carry without its port (`:` is left to the `name:*` domain).
 * Checked here for `envoy.services` and by src/namerd/xds for the names a dtab spells out.
 */
export const XDS_SERVICE_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;

/** An Envoy listener's name when `envoy.listeners[].name` gives none. */
export const envoyListenerName = (port: number): string => `http-${port}`;

/**
 * `io.meshwork.xds`'s `envoy` (the types are checked by the catalogue's fields): at least one
 * listener, each on an IP address (Envoy binds listeners to addresses, not host names), no two
 * with the same name or the same address and port; services that can be Host header values.
 */
function checkXdsEnvoy(v: Validator, iface: unknown, at: string): void {
  if (!isObject(iface) || iface['kind'] !== 'io.meshwork.xds' || !isObject(iface['envoy'])) return;
  const envoy = iface['envoy'];
  const listeners = envoy['listeners'];
  if (Array.isArray(listeners)) {
    if (listeners.length === 0) {
      v.issue('MESH_ERR_CONFIG_INVALID', `${at}.envoy.listeners`, listeners, ['at least one listener'], 'at least one listener is required (each with a port)');
    }
    const names = new Map<string, number>();
    const addresses = new Map<string, number>();
    listeners.forEach((l, j) => {
      if (!isObject(l)) return;
      const key = `${at}.envoy.listeners[${j}]`;
      const ip = l['ip'] ?? '0.0.0.0';
      if (typeof ip === 'string' && isIP(ip) === 0) {
        v.issue('MESH_ERR_CONFIG_INVALID', `${key}.ip`, ip, ['an IPv4 or IPv6 address'], `expected an IP address for an Envoy listener (Envoy does not resolve listener host names), found ${show(ip)}`);
      }
      const port = l['port'];
      const name = typeof l['name'] === 'string' ? l['name'] : typeof port === 'number' ? envoyListenerName(port) : undefined;
      if (typeof l['name'] === 'string' && l['name'] === '') {
        v.issue('MESH_ERR_CONFIG_INVALID', `${key}.name`, '', ['a non-empty name'], 'an Envoy listener name must not be empty');
      } else if (name !== undefined) {
        const other = names.get(name);
        if (other !== undefined) {
          v.issue('MESH_ERR_CONFIG_INVALID', `${key}.name`, name, [], `Envoy listener name ${show(name)} is also ${at}.envoy.listeners[${other}]'s; give each listener its own name`);
        } else names.set(name, j);
      }
      if (typeof ip === 'string' && typeof port === 'number') {
        const addr = `${ip} ${port}`;
        const other = addresses.get(addr);
        if (other !== undefined) {
          v.issue('MESH_ERR_CONFIG_INVALID', `${key}.port`, port, [], `Envoy listener ${ip}:${port} is also ${at}.envoy.listeners[${other}]`);
        } else addresses.set(addr, j);
      }
    });
  }
  const services = envoy['services'];
  if (Array.isArray(services)) {
    services.forEach((s, j) => {
      if (typeof s === 'string' && !XDS_SERVICE_NAME.test(s)) {
        v.issue('MESH_ERR_CONFIG_INVALID', `${at}.envoy.services[${j}]`, s, ['a host name: letters, digits, _ . -, no port'], `expected a service name usable as a Host header without its port (letters, digits, '_', '.', '-'), found ${show(s)}`);
      }
    });
  }
}
