/**
 * Per-prefix configuration for `client` and `service` blocks: `io.l5d.global` applies one
 * config to every name; `io.l5d.static` holds `configs: [{prefix, ...}]` where a prefix is a
 * path pattern whose elements are literals, `*` (any one element) or `{var}` (one element,
 * captured). Every matching config applies in order, later keys overriding earlier ones.
 */
import type { Path } from '../naming/path.js';

type Obj = Readonly<Record<string, unknown>>;

interface Compiled {
  readonly elems: readonly string[];
  readonly params: Obj;
}

export class PrefixConfigs {
  private readonly global: Obj | undefined;
  private readonly configs: readonly Compiled[];
  private readonly memo = new Map<string, Obj>();

  constructor(block: Obj | undefined) {
    const kind = block?.['kind'];
    // The config loader normalises both kinds to `configs: [{prefix, ...}]` (global: prefix `/`).
    if (kind === 'io.l5d.static' || Array.isArray(block?.['configs'])) {
      const list = Array.isArray(block?.['configs']) ? (block!['configs'] as Obj[]) : [];
      this.configs = list.map((c) => {
        const prefix = typeof c['prefix'] === 'string' ? (c['prefix'] as string) : '/';
        const params: Record<string, unknown> = { ...c };
        delete params['prefix'];
        return { elems: prefix.split('/').filter((e) => e !== ''), params };
      });
      this.global = undefined;
    } else {
      const params: Record<string, unknown> = { ...(block ?? {}) };
      delete params['kind'];
      this.global = params;
      this.configs = [];
    }
  }

  /** The merged params for a name (memoised per name: built once, read per request). */
  paramsFor(path: Path): Obj {
    const key = path.show();
    let p = this.memo.get(key);
    if (p === undefined) {
      p = this.compute(path);
      if (this.memo.size > 10_000) this.memo.clear();
      this.memo.set(key, p);
    }
    return p;
  }

  private compute(path: Path): Obj {
    if (this.global !== undefined) return this.global;
    const merged: Record<string, unknown> = {};
    const elems = path.utf8Elems;
    for (const c of this.configs) {
      const vars = matchPrefix(c.elems, elems);
      if (vars === undefined) continue;
      Object.assign(merged, substitute(c.params, vars) as Obj);
    }
    return merged;
  }
}

/** Matches a prefix pattern against path elements; returns the `{var}` captures. */
export function matchPrefix(pattern: readonly string[], elems: readonly string[]): Record<string, string> | undefined {
  if (pattern.length > elems.length) return undefined;
  const vars: Record<string, string> = {};
  for (let i = 0; i < pattern.length; i++) {
    const p = pattern[i]!;
    const e = elems[i]!;
    if (p === '*') continue;
    if (p.length > 2 && p.startsWith('{') && p.endsWith('}')) {
      vars[p.slice(1, -1)] = e;
      continue;
    }
    if (p !== e) return undefined;
  }
  return vars;
}

/** Replaces `{var}` in string values (e.g. a TLS commonName) with the captured elements. */
function substitute(v: unknown, vars: Record<string, string>): unknown {
  if (typeof v === 'string') return v.replace(/\{([^{}]+)\}/g, (m, name: string) => vars[name] ?? m);
  if (Array.isArray(v)) return v.map((x) => substitute(x, vars));
  if (v !== null && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v as Obj)) out[k] = substitute(x, vars);
    return out;
  }
  return v;
}
