/**
 * The top-level namerd.yaml schema (namerd/docs/config.md): admin (port 9991), storage,
 * namers, interfaces, telemetry. As namerd does, namer prefixes must be non-empty and must not
 * overlap (namerd has no precedence between namers, unlike Linkerd).
 */
import type { Fields } from './schema.js';
import type { NamerdConfig, NamerConfig, PluginConfig } from './types.js';
import { Validator, isObject } from './validate.js';
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
