/**
 * Validates a parsed config object against a `Fields` schema, collecting every problem (not just
 * the first) and returning a copy with defaults applied. Kinds are looked up in the plugin
 * registry; paths and dtabs are checked with the naming parser.
 */
import { isDeepStrictEqual } from 'node:util';
import type { FieldSpec, FieldType, Fields, PluginCategory } from './schema.js';
import type { ConfigIssue, ConfigIssueCode } from './errors.js';
import { getPlugin, isKeyBuilt, kinds, supportedKinds } from './plugins.js';
import { categoryFields, defaultKind } from './catalogue.js';

/** The largest Java Int, as Linkerd reads an int key. */
const INT32_MAX = 0x7fffffff;

/** The naming parser, injected so config does not depend on how naming is loaded. */
export interface NamingSyntax {
  readPath(text: string): unknown;
  readDtab(text: string): unknown;
}

export type Obj = Record<string, unknown>;

export function isObject(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A value as shown in an error: JSON, shortened. */
export function show(v: unknown): string {
  if (v === undefined) return 'nothing';
  let s: string;
  try {
    s = JSON.stringify(v) ?? String(v);
  } catch {
    s = String(v);
  }
  return s.length > 80 ? s.slice(0, 77) + '...' : s;
}

export function joinKey(path: string, key: string): string {
  return path === '' ? key : `${path}.${key}`;
}

export function typeName(t: FieldType): string {
  if (typeof t === 'string') {
    switch (t) {
      case 'int':
        return 'integer';
      case 'path':
        return 'path (e.g. /svc)';
      case 'dtab':
        return 'dtab (string)';
      default:
        return t;
    }
  }
  if ('enum' in t) return `one of ${t.enum.join(', ')}`;
  if ('object' in t) return 'object';
  if ('array' in t) return 'list';
  if ('map' in t) return 'map';
  if ('plugin' in t) return 'object with kind';
  return t.oneOf.map(typeName).join(' or ');
}

export class Validator {
  readonly issues: ConfigIssue[] = [];
  /** >0 while filling in defaults: a default kind Meshwork lacks is the consumer's concern, not
   * the user's, so it is not reported as "not supported". */
  private defaulting = 0;

  constructor(
    readonly file: string,
    readonly naming?: NamingSyntax,
  ) {}

  issue(code: ConfigIssueCode, keyPath: string, found: unknown, allowed: readonly string[], detail: string): void {
    const message = keyPath === '' ? `${this.file}: ${detail}` : `${this.file}: ${keyPath}: ${detail}`;
    this.issues.push({ code, file: this.file, keyPath, found, allowed, message });
  }

  notSupported(what: string, keyPath: string, found: unknown, hint?: string): void {
    if (this.defaulting > 0) return;
    this.issues.push({
      code: 'MESH_ERR_CONFIG_NOT_SUPPORTED',
      file: this.file,
      keyPath,
      found,
      allowed: [],
      message: `${this.file}: not supported yet: ${what} at ${keyPath}${hint === undefined ? '' : `; ${hint}`}`,
    });
  }

  /**
   * An object against its fields: unknown keys, missing required keys, each value's type;
   * missing keys with a default get it. Returns undefined when `value` is not an object.
   */
  fields(value: unknown, fields: Fields, path: string): Obj | undefined {
    if (!isObject(value)) {
      this.issue('MESH_ERR_CONFIG_TYPE', path, value, ['object'], `expected object, found ${show(value)}`);
      return undefined;
    }
    const out: Obj = {};
    const allowed = Object.keys(fields);
    for (const [key, v] of Object.entries(value)) {
      const spec = fields[key];
      const keyPath = joinKey(path, key);
      if (spec === undefined) {
        this.issue('MESH_ERR_CONFIG_UNKNOWN_KEY', keyPath, v, allowed, `unknown key '${key}'; allowed keys: ${allowed.join(', ')}`);
        continue;
      }
      // YAML `key:` with nothing after it is null; Linkerd (Jackson) treats it as absent.
      if (v === null && spec.type !== 'any') continue;
      // A key whose feature is not built is refused, unless it is set to its default: that asks
      // for what Meshwork does anyway (`enableProbation: false`, as Linkerd's docs write it).
      const asDefault = spec.default !== undefined && isDeepStrictEqual(v, spec.default);
      if ((spec.notSupported && !asDefault) || !isKeyBuilt(keyPath)) this.notSupported(key, keyPath, v);
      const checked = this.value(v, spec.type, spec, keyPath);
      if (checked !== undefined) out[key] = checked;
    }
    for (const [key, spec] of Object.entries(fields)) {
      if (out[key] !== undefined || (value[key] !== undefined && value[key] !== null)) continue;
      if (spec.required) {
        this.issue('MESH_ERR_CONFIG_MISSING_KEY', joinKey(path, key), undefined, [key], `required key '${key}' missing`);
      } else if (spec.default !== undefined) {
        this.defaulting++;
        try {
          out[key] = this.value(structuredClone(spec.default), spec.type, spec, joinKey(path, key));
        } finally {
          this.defaulting--;
        }
      }
    }
    return out;
  }

  /** One value against its type; returns the checked (defaulted) value or undefined if bad. */
  value(v: unknown, type: FieldType, spec: FieldSpec | undefined, path: string): unknown {
    if (typeof type === 'string') return this.scalar(v, type, spec, path);
    if ('enum' in type) {
      if (typeof v === 'string' && type.enum.includes(v)) return v;
      this.issue('MESH_ERR_CONFIG_TYPE', path, v, type.enum, `expected one of ${type.enum.join(', ')}; found ${show(v)}`);
      return undefined;
    }
    if ('object' in type) {
      if (type.open) {
        if (!isObject(v)) {
          this.issue('MESH_ERR_CONFIG_TYPE', path, v, ['object'], `expected object, found ${show(v)}`);
          return undefined;
        }
        const known = this.fields(pick(v, type.object), type.object, path);
        return { ...v, ...known };
      }
      return this.fields(v, type.object, path);
    }
    if ('array' in type) {
      if (!Array.isArray(v)) {
        this.issue('MESH_ERR_CONFIG_TYPE', path, v, ['list'], `expected list, found ${show(v)}`);
        return undefined;
      }
      const out: unknown[] = [];
      v.forEach((item, i) => {
        const c = this.value(item, type.array, undefined, `${path}[${i}]`);
        if (c !== undefined) out.push(c);
      });
      return out;
    }
    if ('map' in type) {
      if (!isObject(v)) {
        this.issue('MESH_ERR_CONFIG_TYPE', path, v, ['map'], `expected map, found ${show(v)}`);
        return undefined;
      }
      const out: Obj = {};
      for (const [k, item] of Object.entries(v)) {
        const c = this.value(item, type.map, undefined, joinKey(path, k));
        if (c !== undefined) out[k] = c;
      }
      return out;
    }
    if ('plugin' in type) return this.plugin(v, type.plugin, path);
    return this.oneOf(v, type.oneOf, spec, path);
  }

  /** A `kind:` object: known kind, its keys, and whether Meshwork builds it. */
  plugin(v: unknown, category: PluginCategory, path: string, extra?: Fields): Obj | undefined {
    if (!isObject(v)) {
      this.issue('MESH_ERR_CONFIG_TYPE', path, v, ['object with kind'], `expected object with kind, found ${show(v)}`);
      return undefined;
    }
    let kind = v['kind'];
    if (kind === undefined || kind === null) {
      kind = defaultKind(category);
      if (kind === undefined) {
        this.issue('MESH_ERR_CONFIG_MISSING_KEY', joinKey(path, 'kind'), undefined, kinds(category), `required key 'kind' missing; supported: ${this.kindList(category)}`);
        return undefined;
      }
    }
    if (typeof kind !== 'string') {
      this.issue('MESH_ERR_CONFIG_TYPE', joinKey(path, 'kind'), kind, kinds(category), `expected string, found ${show(kind)}`);
      return undefined;
    }
    const spec = getPlugin(category, kind);
    if (spec === undefined) {
      this.issue('MESH_ERR_CONFIG_UNKNOWN_KIND', joinKey(path, 'kind'), kind, kinds(category), `unknown kind '${kind}'; ${this.kindList(category)}`);
      return undefined;
    }
    const fields: Fields = {
      kind: { type: 'string' },
      experimental: { type: 'boolean' },
      ...categoryFields(category, kind),
      ...spec.fields,
      ...(extra ?? {}),
    };
    const out = this.fields(v, fields, path);
    if (out === undefined) return undefined;
    out['kind'] = kind;
    if (spec.create === undefined) this.notSupported(kind, path, kind, spec.hint);
    else this.experimental(spec, v, path);
    return out;
  }

  /**
   * Linkerd refuses an experimental kind unless the config says `experimental: true`. Checked
   * only for kinds Meshwork builds: for the others "not supported yet" is the answer, and whether
   * Meshwork's version is experimental is the implementing area's call (its spec's flag).
   */
  experimental(spec: { readonly kind: string; readonly experimental?: boolean }, v: Obj, path: string): void {
    if (spec.experimental && v['experimental'] !== true) {
      this.issue('MESH_ERR_CONFIG_EXPERIMENTAL', joinKey(path, 'experimental'), v['experimental'], ['true'],
        `${spec.kind} is experimental and must be enabled with 'experimental: true'`);
    }
  }

  /** `supported: a, b; not supported yet: c` — the supported part first, as the house style asks. */
  kindList(category: PluginCategory): string {
    const all = kinds(category);
    const ok = supportedKinds(category);
    const rest = all.filter((k) => !ok.includes(k));
    const parts: string[] = [];
    if (ok.length > 0 || rest.length === 0) parts.push(`supported: ${ok.join(', ') || '(none)'}`);
    if (rest.length > 0) parts.push(`${ok.length > 0 ? 'known, ' : ''}not supported yet: ${rest.join(', ')}`);
    return parts.join('; ');
  }

  private oneOf(v: unknown, types: readonly FieldType[], spec: FieldSpec | undefined, path: string): unknown {
    // Pick the alternative whose shape matches (list vs object vs scalar), then report its errors.
    for (const t of types) {
      if (shapeMatches(v, t)) return this.value(v, t, spec, path);
    }
    const names = types.map(typeName);
    this.issue('MESH_ERR_CONFIG_TYPE', path, v, names, `expected ${names.join(' or ')}, found ${show(v)}`);
    return undefined;
  }

  private scalar(v: unknown, type: Exclude<FieldType, object>, spec: FieldSpec | undefined, path: string): unknown {
    v = coerce(v, type);
    switch (type) {
      case 'any':
        return v;
      case 'string':
        if (typeof v === 'string') return v;
        break;
      case 'boolean':
        if (typeof v === 'boolean') return v;
        break;
      case 'int':
      case 'number':
        if (typeof v === 'number' && Number.isFinite(v) && (type === 'number' || Number.isInteger(v))) {
          const min = spec?.min;
          // Linkerd reads an int key as a Java Int: without a bound of its own, one past 2^31-1 is
          // refused there, and here (as a timeout, Node would fire it after 1 ms).
          const max = spec?.max ?? (type === 'int' ? INT32_MAX : undefined);
          const ex = spec?.exclusive === true;
          const below = min !== undefined && (ex ? v <= min : v < min);
          const above = max !== undefined && (ex ? v >= max : v > max);
          if (below || above) {
            const range = `${min ?? '-inf'}..${max ?? 'inf'}${ex ? ' exclusive' : ''}`;
            this.issue('MESH_ERR_CONFIG_RANGE', path, v, [range], `${v} out of range; allowed: ${range}`);
            return undefined;
          }
          return v;
        }
        break;
      case 'path':
        if (typeof v === 'string') {
          if (this.naming !== undefined) {
            try {
              this.naming.readPath(v);
            } catch (e) {
              this.issue('MESH_ERR_CONFIG_BAD_PATH', path, v, ['path'], `bad path ${show(v)}: ${(e as Error).message}`);
              return undefined;
            }
          }
          return v;
        }
        break;
      case 'dtab':
        if (typeof v === 'string') {
          if (this.naming !== undefined) {
            try {
              this.naming.readDtab(v);
            } catch (e) {
              this.issue('MESH_ERR_CONFIG_BAD_DTAB', path, v, ['dtab'], `bad dtab: ${(e as Error).message}`);
              return undefined;
            }
          }
          return v;
        }
        break;
    }
    this.issue('MESH_ERR_CONFIG_TYPE', path, v, [typeName(type)], `expected ${typeName(type)}, found ${show(v)}`);
    return undefined;
  }
}

const NUMERIC = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

/**
 * Linkerd reads configs with Jackson, which coerces scalars: `port: "4140"` is 4140,
 * `enabled: "true"` is true, `label: 7` is "7". The same configs must load here.
 */
function coerce(v: unknown, type: Exclude<FieldType, object>): unknown {
  switch (type) {
    case 'int':
    case 'number':
      return typeof v === 'string' && NUMERIC.test(v.trim()) ? Number(v) : v;
    case 'boolean':
      return v === 'true' ? true : v === 'false' ? false : v;
    case 'string':
      return typeof v === 'number' || typeof v === 'boolean' ? String(v) : v;
    default:
      return v;
  }
}

function shapeMatches(v: unknown, t: FieldType): boolean {
  if (typeof t === 'string') {
    switch (t) {
      case 'any':
        return true;
      case 'int':
      case 'number':
        return typeof v === 'number';
      case 'boolean':
        return typeof v === 'boolean';
      default:
        return typeof v === 'string';
    }
  }
  if ('enum' in t) return typeof v === 'string';
  if ('array' in t) return Array.isArray(v);
  if ('oneOf' in t) return t.oneOf.some((x) => shapeMatches(v, x));
  return isObject(v);
}

function pick(v: Obj, fields: Fields): Obj {
  const out: Obj = {};
  for (const k of Object.keys(fields)) if (k in v) out[k] = v[k];
  return out;
}

/** Validates `value` against `fields`; returns the defaulted object and every issue found. */
export function validate(value: unknown, fields: Fields, file: string, naming?: NamingSyntax): { value: Obj | undefined; issues: ConfigIssue[] } {
  const v = new Validator(file, naming);
  const out = v.fields(value, fields, '');
  return { value: out, issues: v.issues };
}
