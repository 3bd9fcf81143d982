/**
 * io.l5d.rewrite: matches the path (after the namer's prefix) against `pattern` and answers
 * with `name` after substituting the captured variables; no match is `Neg`. Pattern segments
 * are literals, `*` (any one segment) or contain `{var}` captures, which are greedy and may
 * sit inside a segment (`{service}.{ns}`). The pattern matches a prefix of the path: extra
 * trailing segments are ignored, as in Linkerd's PathMatcher.
 */
import { Activity } from '../naming/activity.js';
import type { Name, NameNamer } from '../naming/contracts.js';
import { NEG, leaf, type NameTree } from '../naming/name-tree.js';
import type { Path } from '../naming/path.js';
import { showElem } from '../naming/path.js';
import { configuredPrefix, requiredString, type NamerSpec } from './spec.js';

type Segment =
  | { readonly kind: 'any' }
  | { readonly kind: 'literal'; readonly text: string }
  | { readonly kind: 'capture'; readonly regex: RegExp; readonly keys: readonly string[] };

const CAPTURE = /\{([a-zA-Z0-9.:-_]+)\}/g;

function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

export class PathMatcher {
  private readonly segments: readonly Segment[];

  constructor(readonly expr: string) {
    const raw = expr.split('/');
    let i = 0;
    while (i < raw.length && raw[i] === '') i++;
    this.segments = raw.slice(i).map((seg): Segment => {
      if (seg === '*') return { kind: 'any' };
      const keys: string[] = [];
      let source = '';
      let last = 0;
      for (const m of seg.matchAll(CAPTURE)) {
        source += escapeRegex(seg.slice(last, m.index)) + '(.*)';
        keys.push(m[1]!);
        last = m.index! + m[0].length;
      }
      if (keys.length === 0) return { kind: 'literal', text: seg };
      source += escapeRegex(seg.slice(last));
      return { kind: 'capture', regex: new RegExp(source), keys };
    });
  }

  /** The captured variables, or undefined when the path does not match. */
  extract(path: Path): Map<string, string> | undefined {
    const elems = path.elems.map(showElem);
    const vars = new Map<string, string>();
    if (elems.length < this.segments.length) return undefined;
    for (let i = 0; i < this.segments.length; i++) {
      const s = this.segments[i]!;
      const e = elems[i]!;
      if (s.kind === 'any') continue;
      if (s.kind === 'literal') {
        if (s.text !== e) return undefined;
        continue;
      }
      const m = s.regex.exec(e);
      if (!m) return undefined;
      s.keys.forEach((k, j) => vars.set(k, m[j + 1] ?? ''));
    }
    return vars;
  }

  /** Replaces every `{var}` in `pattern` with its captured value. */
  static substitute(vars: ReadonlyMap<string, string>, pattern: string): string {
    let out = pattern;
    for (const [k, v] of vars) out = out.split(`{${k}}`).join(v);
    return out;
  }

  substitute(path: Path, pattern: string): string | undefined {
    const vars = this.extract(path);
    return vars && PathMatcher.substitute(vars, pattern);
  }
}

const NEG_ACTIVITY = Activity.value<NameTree<Name>>(NEG);

export class RewriteNamer implements NameNamer {
  private readonly matcher: PathMatcher;

  /** `readPath` parses the substituted name (the naming parser's `readPath`). */
  constructor(
    pattern: string,
    private readonly name: string,
    private readonly readPath: (s: string) => Path,
  ) {
    this.matcher = new PathMatcher(pattern);
  }

  lookup(path: Path): Activity<NameTree<Name>> {
    const out = this.matcher.substitute(path, this.name);
    if (out === undefined) return NEG_ACTIVITY;
    try {
      return Activity.value<NameTree<Name>>(leaf<Name>(this.readPath(out)));
    } catch (e) {
      return Activity.exception(e instanceof Error ? e : new Error(String(e)));
    }
  }
}

export const rewriteNamerSpec: NamerSpec = {
  category: 'namer',
  kind: 'io.l5d.rewrite',
  fields: {
    prefix: { type: 'path', required: true },
    pattern: { type: 'string', required: true, doc: 'e.g. /{service}/api' },
    name: { type: 'string', required: true, doc: 'e.g. /srv/{service}' },
    transformers: { type: { array: { plugin: 'transformer' } }, doc: 'Applied to every bound answer (Linkerd namer transformers).' },
  },
  create(config, ctx) {
    const prefix = configuredPrefix(config, 'io.l5d.rewrite', ctx, true);
    const namer = new RewriteNamer(requiredString(config, 'pattern', ctx), requiredString(config, 'name', ctx), ctx.readPath);
    return { prefix, namer };
  },
};
