/**
 * `io.l5d.path`: the first `segments` elements of the request path, `dstPrefix/<s1>/.../<sn>`.
 * With `consume: true` those elements are stripped from the forwarded target (a trailing slash
 * and the query string are kept; nothing left becomes `/`). Segments are split as Linkerd
 * does (Java's `split("/")`: trailing empty pieces dropped, empty inner pieces kept).
 */
import type { PluginSpec } from '../../config/schema.js';
import { Path, utf8Bytes } from '../../naming/path.js';
import { booleanKey, numberKey } from '../plugin-errors.js';
import type { Identifier, IdentifierContext, IdentifyRequest, IdentifyResult } from './identifier.js';
import { identified, pathEnd, unidentified } from './identifier.js';

export const KIND = 'io.l5d.path';

const TOO_FEW = unidentified('not enough segments in path');
const EMPTY_SEGMENT = unidentified('empty segment in path');

export class PathIdentifier implements Identifier {
  readonly kind = KIND;
  private readonly prefixElems: readonly string[];

  constructor(
    prefix: Path,
    private readonly segments: number,
    private readonly consume: boolean,
  ) {
    this.prefixElems = prefix.elems;
  }

  identify(req: IdentifyRequest): IdentifyResult {
    const url = req.url;
    const end = pathEnd(url);
    // Scans the path once instead of splitting it: pieces after the first '/' are segments.
    let pos = url.indexOf('/');
    if (pos === -1 || pos >= end) return TOO_FEW;
    pos++;
    const elems = this.prefixElems.slice();
    for (let k = 0; k < this.segments; k++) {
      if (pos > end || onlySlashesUntil(url, pos, end)) return TOO_FEW;
      let next = url.indexOf('/', pos);
      if (next === -1 || next > end) next = end;
      if (next === pos) return EMPTY_SEGMENT;
      elems.push(utf8Bytes(url.slice(pos, next)));
      pos = next + 1;
    }
    const dst = Path.fromElems(elems);
    if (!this.consume) return identified(dst);
    // What follows the consumed segments, without its leading '/' and trailing slashes.
    let restEnd = end;
    while (restEnd > pos && url.charCodeAt(restEnd - 1) === 47) restEnd--;
    const rest = pos >= restEnd ? '/' : '/' + url.slice(pos, restEnd) + (url.charCodeAt(end - 1) === 47 ? '/' : '');
    return identified(dst, end === url.length ? rest : rest + url.slice(end));
  }
}

/** True when `s[from, end)` is only slashes (Java's split drops such trailing pieces). */
function onlySlashesUntil(s: string, from: number, end: number): boolean {
  for (let i = from; i < end; i++) if (s.charCodeAt(i) !== 47) return false;
  return true;
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
