/**
 * The identifier contract: an identifier turns a request into a logical name (Linkerd's
 * `dstPrefix ++ ...`). One is created per router from its config and context; the request
 * path calls only `identify()`, which returns a plain result object and never throws.
 */
import type { Path } from '../../naming/path.js';

/**
 * The request facts identifiers read. The router implements it over the engine's parsed head:
 * `url` is the request-target as received, `httpVersion` is `'1.1'`/`'1.0'`, and
 * `header(name)` is called with a lower-case name and returns the first value or undefined.
 * The optional members answer without decoding strings; identifiers fall back to `url` and
 * `header` when a request lacks them.
 */
export interface IdentifyRequest {
  readonly method: string;
  readonly url: string;
  readonly httpVersion: string;
  header(name: string): string | undefined;
  /** True when the request-target is origin-form (starts with `/`). */
  readonly originForm?: boolean;
  /** True when `header(name)` would return exactly `value`. */
  headerIs?(name: string, value: string): boolean;
}

export interface Identified {
  readonly type: 'identified';
  /** The logical name, e.g. `/svc/users`. */
  readonly dst: Path;
  /** When set, forward the request with this origin-form target instead of the received one. */
  readonly rewrittenUrl?: string;
  /** When set (proxy-form request), forward with this Host header value. */
  readonly rewrittenHost?: string;
}

export interface Unidentified {
  readonly type: 'unidentified';
  readonly reason: string;
  /**
   * True when identification failed outright (e.g. a header that is not a path), which stops
   * a list of identifiers, as a failed Future does in Linkerd. The router answers 400 either way.
   */
  readonly fatal?: boolean;
}

export type IdentifyResult = Identified | Unidentified;

export interface Identifier {
  readonly kind: string;
  identify(req: IdentifyRequest): IdentifyResult;
  /** Stops what the identifier watches (io.l5d.ingress: its Kubernetes watch), if anything. */
  close?(): void;
  /**
   * Resolves once the identifier can answer (io.l5d.ingress: the first list of ingresses), or
   * after `timeoutMs`; the linker waits for it before its servers listen.
   */
  ready?(timeoutMs: number): Promise<void>;
}

/** What a router gives every identifier it creates. */
export interface IdentifierContext {
  /** The router's `dstPrefix` (default `/svc`). */
  readonly dstPrefix: Path;
  /** The router's base dtab (for identifiers that consult it; none of the HTTP ones do). */
  readonly baseDtab?: unknown;
}

export function identified(dst: Path, rewrittenUrl?: string): Identified {
  return rewrittenUrl === undefined ? { type: 'identified', dst } : { type: 'identified', dst, rewrittenUrl };
}

export function unidentified(reason: string, fatal = false): Unidentified {
  return fatal ? { type: 'unidentified', reason, fatal: true } : { type: 'unidentified', reason };
}

/** Where the path part of a request-target ends (before `?` or `#`). */
export function pathEnd(url: string): number {
  const q = url.indexOf('?');
  return q === -1 ? url.length : q;
}

/**
 * Tries identifiers in order until one identifies the request (Linkerd's
 * `Identifier.compose`); an unidentified result with `fatal` stops the search. With several
 * identifiers that all decline, the last one's reason is reported.
 */
export class ComposedIdentifier implements Identifier {
  readonly kind: string;

  constructor(private readonly all: readonly Identifier[]) {
    this.kind = all.map((i) => i.kind).join(',');
  }

  close(): void {
    for (const i of this.all) i.close?.();
  }

  async ready(timeoutMs: number): Promise<void> {
    await Promise.all(this.all.map((i) => i.ready?.(timeoutMs)));
  }

  identify(req: IdentifyRequest): IdentifyResult {
    const all = this.all;
    let res: IdentifyResult = unidentified('no identifiers');
    for (let i = 0; i < all.length; i++) {
      res = all[i]!.identify(req);
      if (res.type === 'identified' || res.fatal === true) return res;
    }
    return res;
  }
}

/**
 * A proxy-form request (`GET http://world/x`) is identified as if it were `GET /x` with
 * `Host: world`, and forwarded that way (Linkerd's ProxyRewriteFilter runs before
 * identification).
 */
class ProxyFormView implements IdentifyRequest {
  constructor(
    private readonly inner: IdentifyRequest,
    readonly url: string,
    readonly host: string,
  ) {}
  get method(): string {
    return this.inner.method;
  }
  get httpVersion(): string {
    return this.inner.httpVersion;
  }
  header(name: string): string | undefined {
    return name === 'host' ? this.host : this.inner.header(name);
  }
}

/** Splits an absolute-form target into authority and origin-form target; undefined if not absolute. */
export function splitAbsoluteForm(url: string): { readonly authority: string; readonly target: string } | undefined {
  if (url.charCodeAt(0) === 47 /* '/' */) return undefined;
  const sep = url.indexOf('://');
  if (sep <= 0) return undefined;
  const scheme = url.slice(0, sep);
  if (!/^[A-Za-z][A-Za-z0-9+.-]*$/.test(scheme)) return undefined;
  const start = sep + 3;
  let end = url.length;
  for (let i = start; i < url.length; i++) {
    const c = url.charCodeAt(i);
    if (c === 47 || c === 63 || c === 35) {
      end = i;
      break;
    }
  }
  const authority = url.slice(start, end);
  if (authority === '') return undefined;
  let target = url.slice(end);
  if (target === '' || target.charCodeAt(0) !== 47) target = '/' + target;
  return { authority, target };
}

/**
 * The identifier a router uses: its configured identifiers composed, with proxy-form requests
 * rewritten first. Ordinary origin-form requests cost one character test.
 */
export class RouterIdentifier implements Identifier {
  readonly kind: string;
  private readonly inner: Identifier;

  constructor(all: readonly Identifier[]) {
    this.inner = all.length === 1 ? all[0]! : new ComposedIdentifier(all);
    this.kind = this.inner.kind;
  }

  close(): void {
    this.inner.close?.();
  }

  async ready(timeoutMs: number): Promise<void> {
    await this.inner.ready?.(timeoutMs);
  }

  identify(req: IdentifyRequest): IdentifyResult {
    if (req.originForm === true) return this.inner.identify(req);
    const url = req.url;
    if (url.charCodeAt(0) === 47 /* '/' */ || url === '*') return this.inner.identify(req);
    const abs = splitAbsoluteForm(url);
    if (abs === undefined) return this.inner.identify(req);
    const res = this.inner.identify(new ProxyFormView(req, abs.target, abs.authority));
    if (res.type !== 'identified') return res;
    return {
      type: 'identified',
      dst: res.dst,
      rewrittenUrl: res.rewrittenUrl ?? abs.target,
      rewrittenHost: abs.authority,
    };
  }
}
