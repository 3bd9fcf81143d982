/**
 * The dtabs a router binds with: its base dtab, and base ++ `l5d-ctx-dtab` ++ `l5d-dtab` for
 * requests that carry dentries (request entries win, as Linkerd). Each distinct dtab is kept
 * under a key (the base's text, or base text + newline + the request's dentries) that the
 * binding cache uses; past 10,000 distinct request dtabs the kept ones are dropped.
 * Shared by the http and h2 routers; only requests with dtab headers reach `local`.
 */
import { RouterError } from './errors.js';
import * as H from './headers.js';
import type { DtabLike } from './router-base.js';

const MAX_KEPT = 10_000;

export class RequestDtabs<D extends DtabLike> {
  readonly baseText: string;
  private readonly byKey = new Map<string, D>();

  constructor(
    private readonly base: D,
    private readonly parse: (s: string) => D,
  ) {
    this.baseText = base.show();
    this.byKey.set(this.baseText, base);
  }

  /** The dtab kept under `key` (the base when it was dropped). */
  get(key: string): D {
    return this.byKey.get(key) ?? this.base;
  }

  /**
   * One request's dentries from its header values (either may be ''), as text ('' when they
   * are empty); the dtab base ++ them is kept under `keyOf(text)`. A header that does not parse
   * is a MESH_ERR_ROUTER_BAD_DTAB naming it.
   */
  local(ctxDtab: string, userDtab: string): string {
    let local: D | undefined;
    try {
      const ctx = ctxDtab === '' ? undefined : this.parse(ctxDtab);
      const user = userDtab === '' ? undefined : this.parse(userDtab);
      local = ctx === undefined ? user : user === undefined ? ctx : (ctx.concat(user) as D);
    } catch (e) {
      const which = userDtab !== '' ? H.H_DTAB : H.H_CTX_DTAB;
      throw new RouterError('MESH_ERR_ROUTER_BAD_DTAB', `Invalid dtab in ${which} header: ${(e as Error).message}`);
    }
    if (local === undefined || local.size === 0) return '';
    const text = local.show();
    const key = this.keyOf(text);
    if (!this.byKey.has(key)) {
      if (this.byKey.size > MAX_KEPT) {
        this.byKey.clear();
        this.byKey.set(this.baseText, this.base);
      }
      this.byKey.set(key, this.base.concat(local) as D);
    }
    return text;
  }

  /** The key of base ++ the dentries `localText` ('' = the base alone). */
  keyOf(localText: string): string {
    return localText === '' ? this.baseText : this.baseText + '\n' + localText;
  }
}
