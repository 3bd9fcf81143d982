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

  identify(req: IdentifyRequest): IdentifyResult {
    const v = req.header(this.lower);
    if (v === undefined || v === '') return this.absent;
    const elems = this.prefixElems.slice();
    elems.push(utf8Bytes(v));
    return identified(Path.fromElems(elems));
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
