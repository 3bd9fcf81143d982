/**
 * `io.l5d.header`: the value of one header (default `l5d-name`) read as a path,
 * `dstPrefix ++ <value>`. A value that is not a path fails identification outright.
 */
import type { PluginSpec } from '../../config/schema.js';
import type { Path } from '../../naming/path.js';
import { stringKey } from '../plugin-errors.js';
import type { Identifier, IdentifierContext, IdentifyRequest, IdentifyResult } from './identifier.js';
import { identified, unidentified } from './identifier.js';
import { readPath as readPathText } from '../../naming/parser.js';

export const KIND = 'io.l5d.header';

export class HeaderPathIdentifier implements Identifier {
  readonly kind = KIND;
  private readonly lower: string;
  private readonly absent: IdentifyResult;

  constructor(
    private readonly prefix: Path,
    header: string,
  ) {
    this.lower = header.toLowerCase();
    this.absent = unidentified(`${header} header is absent`);
  }

  identify(req: IdentifyRequest): IdentifyResult {
    const v = req.header(this.lower);
    if (v === undefined || v === '') return this.absent;
    let p: Path;
    try {
      p = readPathText(v);
    } catch (e) {
      return unidentified((e as Error).message, true);
    }
    return identified(this.prefix.concat(p));
  }
}

export const headerIdentifier: PluginSpec<Record<string, unknown>, Identifier, IdentifierContext> = {
  category: 'identifier',
  kind: KIND,
  fields: {
    header: { type: 'string', default: 'l5d-name', doc: 'The header whose value (a path) is the name.' },
  },
  create: (cfg, ctx) => new HeaderPathIdentifier(ctx.dstPrefix, stringKey(KIND, cfg, 'header', 'l5d-name')),
};
