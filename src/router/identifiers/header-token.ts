/**
 * `io.l5d.header.token` (the default): the value of one header (default `Host`) as a single
 * path element, `dstPrefix ++ /<value>`. The value is used as received (not lower-cased).
 */
import type { PluginSpec } from '../../config/schema.js';
import { Path, utf8Bytes } from '../../naming/path.js';
import { stringKey } from '../plugin-errors.js';
import type { Identifier, IdentifierContext, IdentifyRequest, IdentifyResult } from './identifier.js';
import { identified, unidentified } from './identifier.js';

export const KIND = 'io.l5d.header.token';

export class HeaderTokenIdentifier implements Identifier {
  readonly kind = KIND;
  private readonly lower: string;
  private readonly absent: IdentifyResult;
  private readonly prefixElems: readonly string[];

  constructor(prefix: Path, header: string) {
    this.prefixElems = prefix.elems;
    this.lower = header.toLowerCase();
    this.absent = unidentified(`${header} header is absent`);
  }

  /** Results by header value: a service sees few distinct values, and a Path is immutable. */
  private readonly seen = new Map<string, IdentifyResult>();
  /** The last value identified and its result: checked first, without decoding the header. */
  private lastValue = '';
  private lastResult: IdentifyResult | null = null;

  identify(req: IdentifyRequest): IdentifyResult {
    const last = this.lastResult;
    if (last !== null && req.headerIs !== undefined && req.headerIs(this.lower, this.lastValue)) return last;
    const v = req.header(this.lower);
    if (v === undefined || v === '') return this.absent;
    let r = this.seen.get(v);
    if (r === undefined) {
      const elems = this.prefixElems.slice();
      elems.push(utf8Bytes(v));
      r = identified(Path.fromElems(elems));
      if (this.seen.size >= 1024) this.seen.clear();
      this.seen.set(v, r);
    }
    this.lastValue = v;
    this.lastResult = r;
    return r;
  }
}

export const headerTokenIdentifier: PluginSpec<Record<string, unknown>, Identifier, IdentifierContext> = {
  category: 'identifier',
  kind: KIND,
  fields: {
    header: { type: 'string', default: 'Host', doc: 'The header whose value is the one-element name.' },
  },
  create: (cfg, ctx) => new HeaderTokenIdentifier(ctx.dstPrefix, stringKey(KIND, cfg, 'header', 'Host')),
};
