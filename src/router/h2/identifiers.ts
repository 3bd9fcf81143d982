/**
 * The h2 router's identifiers (category `h2Identifier`), over the request's HTTP/2 headers,
 * pseudo-headers included (`:authority`, `:path`):
 *  - `io.l5d.header.token` (the default): one header's value (default `:authority`) as one
 *    element, `dstPrefix/<value>`; with several values the last is used, as Linkerd does.
 *  - `io.l5d.header.path`: a header (default `:path`) read as a path (its query cut off),
 *    `dstPrefix/<first segments elements>`; without `segments` the whole path. gRPC's
 *    `/pkg.Service/Method` with `segments: 1` is `/svc/pkg.Service`.
 *  - `io.l5d.ingress`: the first Kubernetes Ingress rule matching the host of `:authority`
 *    (without its port) and `:path` (without its query), `dstPrefix/<namespace>/<port>/<service>`;
 *    the watch and the matching are the http identifier's (identifiers/ingress-cache.ts), with
 *    Linkerd's h2 keys. Linkerd's h2 variant compares `:authority` port included and `:path`
 *    query included, so a rule with a host never matched a client that sent a port; Meshwork
 *    matches as its http variant does.
 * They implement the router's Identifier contract (identifiers/identifier.ts).
 */
import type { PluginSpec } from '../../config/schema.js';
import { Path, utf8Bytes } from '../../naming/path.js';
import { readPath } from '../../naming/parser.js';
import { PluginError, numberKey, stringKey } from '../plugin-errors.js';
import { ComposedIdentifier, identified, pathEnd, unidentified, type Identifier, type IdentifierContext, type IdentifyRequest, type IdentifyResult } from '../identifiers/identifier.js';
import { IngressCache, KIND as INGRESS_KIND, ingressArgs, ingressFields, matchIngress } from '../identifiers/ingress-cache.js';

export const HEADER_TOKEN_KIND = 'io.l5d.header.token';
export const HEADER_PATH_KIND = 'io.l5d.header.path';
export const DEFAULT_H2_IDENTIFIER_KIND = HEADER_TOKEN_KIND;

/** The identifiers' view of an h2 request: header names are lower case, pseudo-headers too. */
export class H2HeadersView implements IdentifyRequest {
  constructor(private readonly headers: Readonly<Record<string, string | string[] | undefined>>) {}
  get method(): string {
    return String(this.headers[':method'] ?? '');
  }
  get url(): string {
    return String(this.headers[':path'] ?? '');
  }
  get httpVersion(): string {
    return '2.0';
  }
  /** The last value of `name` (Linkerd's h2 identifiers read the last of repeated headers). */
  header(name: string): string | undefined {
    const v = this.headers[name];
    if (Array.isArray(v)) return v.length === 0 ? undefined : v[v.length - 1];
    return v;
  }
}

export class H2HeaderTokenIdentifier implements Identifier {
  readonly kind = HEADER_TOKEN_KIND;
  private readonly lower: string;
  private readonly absent: IdentifyResult;
  private readonly seen = new Map<string, IdentifyResult>();

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
    let r = this.seen.get(v);
    if (r === undefined) {
      r = identified(Path.fromElems([...this.prefix.elems, utf8Bytes(v)]));
      if (this.seen.size >= 1024) this.seen.clear();
      this.seen.set(v, r);
    }
    return r;
  }
}

export class H2HeaderPathIdentifier implements Identifier {
  readonly kind = HEADER_PATH_KIND;
  private readonly lower: string;

  constructor(
    private readonly prefix: Path,
    header: string,
    /** Elements taken from the path; undefined: all of them. */
    private readonly segments: number | undefined,
  ) {
    this.lower = header.toLowerCase();
  }

  identify(req: IdentifyRequest): IdentifyResult {
    const raw = req.header(this.lower);
    let path = Path.empty;
    if (raw !== undefined && raw.startsWith('/')) {
      const q = raw.search(/[?#]/);
      const p = q === -1 ? raw : raw.slice(0, q);
      try {
        path = p === '/' ? Path.empty : readPath(p);
      } catch (e) {
        return unidentified(`${raw} is not a path: ${(e as Error).message}`, true);
      }
    }
    const segments = this.segments;
    if (segments === undefined) {
      if (path.elems.length === 0) return unidentified('Missing destination path');
      return identified(Path.fromElems([...this.prefix.elems, ...path.elems]));
    }
    if (path.elems.length < segments) return unidentified(`Path must have at least ${segments} segment(s)`);
    return identified(Path.fromElems([...this.prefix.elems, ...path.elems.slice(0, segments)]));
  }
}

export class H2IngressIdentifier extends IngressCache {
  identify(req: IdentifyRequest): IdentifyResult {
    if (!this.hasList) return this.notReady;
    const path = req.url; // :path, in H2HeadersView
    return matchIngress(this.ingresses, req.header(':authority'), path.slice(0, pathEnd(path)));
  }
}

type Spec = PluginSpec<Record<string, unknown>, Identifier, IdentifierContext>;

export const h2HeaderTokenIdentifier: Spec = {
  category: 'h2Identifier',
  kind: HEADER_TOKEN_KIND,
  fields: { header: { type: 'string', default: ':authority', doc: 'The header whose (last) value is the one-element name.' } },
  create: (cfg, ctx) => new H2HeaderTokenIdentifier(ctx.dstPrefix, stringKey(HEADER_TOKEN_KIND, cfg, 'header', ':authority')),
};

export const h2HeaderPathIdentifier: Spec = {
  category: 'h2Identifier',
  kind: HEADER_PATH_KIND,
  fields: {
    header: { type: 'string', default: ':path', doc: 'The header read as a path.' },
    segments: { type: 'int', min: 1, doc: 'Leading path elements in the name (absent: the whole path).' },
  },
  create: (cfg, ctx) =>
    new H2HeaderPathIdentifier(
      ctx.dstPrefix,
      stringKey(HEADER_PATH_KIND, cfg, 'header', ':path'),
      cfg['segments'] === undefined || cfg['segments'] === null ? undefined : numberKey(HEADER_PATH_KIND, cfg, 'segments', 1, 1, undefined, true),
    ),
};

export const h2IngressIdentifier: Spec = {
  category: 'h2Identifier',
  kind: INGRESS_KIND,
  fields: ingressFields,
  create: (cfg, ctx) => new H2IngressIdentifier(...ingressArgs(cfg, ctx.dstPrefix)),
};

export const h2IdentifierPlugins: readonly Spec[] = [h2HeaderTokenIdentifier, h2HeaderPathIdentifier, h2IngressIdentifier];

/** The h2 router's identifier from its `identifier:` config (object, list or absent). */
export function createH2Identifier(
  config: Readonly<Record<string, unknown>> | readonly Readonly<Record<string, unknown>>[] | undefined,
  ctx: IdentifierContext,
): Identifier {
  const list = config === undefined ? [{ kind: DEFAULT_H2_IDENTIFIER_KIND }] : Array.isArray(config) ? config : [config as Readonly<Record<string, unknown>>];
  if (list.length === 0) throw new PluginError('MESH_ERR_PLUGIN_EMPTY_LIST', 'identifier: empty identifier list');
  const all = list.map((c) => {
    const spec = h2IdentifierPlugins.find((p) => p.kind === c['kind']);
    if (spec === undefined || spec.create === undefined) {
      throw new PluginError(
        'MESH_ERR_PLUGIN_NOT_SUPPORTED',
        `identifier: kind ${JSON.stringify(c['kind'])} is not supported yet for h2 routers; supported: ${h2IdentifierPlugins.map((p) => p.kind).join(', ')}`,
        'kind',
      );
    }
    return spec.create(c as Record<string, unknown>, ctx);
  });
  return all.length === 1 ? all[0]! : new ComposedIdentifier(all);
}
