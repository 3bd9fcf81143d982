/**
 * `io.l5d.path`: the first `segments` elements of the request path, `dstPrefix/<s1>/.../<sn>`.
 * With `consume: true` those elements are stripped from the forwarded target (a trailing slash
 * and the query string are kept; nothing left becomes `/`). Segments are split as Linkerd
 * does (Java's `split("/")`: trailing empty pieces dropped).
 */
import type { PluginSpec } from '../../config/schema.js';
import { Path } from '../../naming/path.js';
import { booleanKey, numberKey } from '../plugin-errors.js';
import type { Identifier, IdentifierContext, IdentifyRequest, IdentifyResult } from './identifier.js';
import { identified, pathEnd, unidentified } from './identifier.js';

export const KIND = 'io.l5d.path';

const TOO_FEW = unidentified('not enough segments in path');
const EMPTY_SEGMENT = unidentified('empty segment in path');

/** `s.split('/')` with Java's rule that trailing empty strings are removed. */
function splitSlash(s: string): string[] {
  const parts = s.split('/');
  let n = parts.length;
  while (n > 0 && parts[n - 1] === '') n--;
  parts.length = n;
  return parts;
}

export class PathIdentifier implements Identifier {
  readonly kind = KIND;

  constructor(
    private readonly prefix: Path,
    private readonly segments: number,
    private readonly consume: boolean,
  ) {}

  identify(req: IdentifyRequest): IdentifyResult {
    const url = req.url;
    const end = pathEnd(url);
    const path = url.slice(0, end);
    const parts = splitSlash(path);
    const segments = this.segments;
    // parts[0] is what precedes the leading '/', so the segments start at index 1.
    if (parts.length - 1 < segments) return TOO_FEW;
    const elems = parts.slice(1, segments + 1);
    for (let i = 0; i < elems.length; i++) if (elems[i] === '') return EMPTY_SEGMENT;
    const dst = this.prefix.concat(Path.utf8(...elems));
    if (!this.consume) return identified(dst);
    let rest: string;
    if (parts.length <= segments + 1) rest = '/';
    else rest = '/' + parts.slice(segments + 1).join('/') + (path.endsWith('/') ? '/' : '');
    return identified(dst, rest + url.slice(end));
  }
}

export const pathIdentifier: PluginSpec<Record<string, unknown>, Identifier, IdentifierContext> = {
  category: 'identifier',
  kind: KIND,
  fields: {
    segments: { type: 'int', default: 1, min: 1, doc: 'Number of leading path segments in the name.' },
    consume: { type: 'boolean', default: false, doc: 'Strip those segments from the forwarded request.' },
  },
  create: (cfg, ctx) =>
    new PathIdentifier(ctx.dstPrefix, numberKey(KIND, cfg, 'segments', 1, 1, undefined, true), booleanKey(KIND, cfg, 'consume', false)),
};
