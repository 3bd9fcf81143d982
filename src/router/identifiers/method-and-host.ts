/**
 * `io.l5d.methodAndHost`: HTTP/1.1 → `dstPrefix/1.1/<METHOD>/<host lower-cased>[/<uri path>]`,
 * HTTP/1.0 → `dstPrefix/1.0/<METHOD>[/<uri path>]` (no host). The URI path is added only with
 * `httpUriInDst: true` and is read as a Finagle path (query string dropped).
 */
import type { PluginSpec } from '../../config/schema.js';
import { Path, utf8Bytes } from '../../naming/path.js';
import { booleanKey } from '../plugin-errors.js';
import type { Identifier, IdentifierContext, IdentifyRequest, IdentifyResult } from './identifier.js';
import { identified, pathEnd, unidentified } from './identifier.js';
import { readPath as readPathText } from '../../naming/parser.js';

export const KIND = 'io.l5d.methodAndHost';

const MISSING_HOST = unidentified('HTTP/1.1 request missing hostname');

export class MethodAndHostIdentifier implements Identifier {
  readonly kind = KIND;
  private readonly prefix10: readonly string[];
  private readonly prefix11: readonly string[];

  constructor(
    prefix: Path,
    private readonly uris: boolean,
  ) {
    this.prefix10 = prefix.concat(Path.utf8('1.0')).elems;
    this.prefix11 = prefix.concat(Path.utf8('1.1')).elems;
  }

  identify(req: IdentifyRequest): IdentifyResult {
    let elems: string[];
    const v = req.httpVersion;
    if (v === '1.1') {
      const host = req.header('host');
      if (host === undefined || host === '') return MISSING_HOST;
      elems = this.prefix11.slice();
      elems.push(utf8Bytes(req.method), utf8Bytes(host.toLowerCase()));
    } else if (v === '1.0') {
      elems = this.prefix10.slice();
      elems.push(utf8Bytes(req.method));
    } else {
      return unidentified(`Unknown HTTP version HTTP/${v}`);
    }
    const base = Path.fromElems(elems);
    if (!this.uris) return identified(base);
    const url = req.url;
    let suffix: Path;
    try {
      suffix = readPathText(url.slice(0, pathEnd(url)));
    } catch (e) {
      return unidentified((e as Error).message, true);
    }
    return identified(base.concat(suffix));
  }
}

export const methodAndHostIdentifier: PluginSpec<Record<string, unknown>, Identifier, IdentifierContext> = {
  category: 'identifier',
  kind: KIND,
  fields: {
    httpUriInDst: { type: 'boolean', default: false, doc: 'Append the request path to the name.' },
  },
  create: (cfg, ctx) => new MethodAndHostIdentifier(ctx.dstPrefix, booleanKey(KIND, cfg, 'httpUriInDst', false)),
};
