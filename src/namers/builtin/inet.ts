/**
 * Address resolution for `/$/inet`, `/$/fixedinet` and `/$/io.buoyant.rinet`: an IP literal
 * binds at once; a host name is resolved with the system resolver (as Java's InetAddress
 * does, so `127.1` and `localhost` work) and, for inet, re-resolved periodically while
 * somebody observes the address.
 */
import { lookup as dnsLookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { ADDR_NEG, ADDR_PENDING, type Addr, type Address } from '../../naming/addr.js';
import { addrEquals } from '../../naming/bound.js';
import type { Var } from '../../naming/contracts.js';
import { AsyncVar, ConstVar } from '../../naming/var.js';

/** How often a watched host name is resolved again (Finagle's InetResolver polls too). */
export const DNS_REFRESH_MS = 5000;

const EMPTY_META: Readonly<Record<string, unknown>> = Object.freeze({});

/** `/$/inet/<port>` has no host: Finagle binds the wildcard address. */
export const WILDCARD_HOST = '0.0.0.0';

export function isPort(s: string): boolean {
  if (!/^[0-9]{1,5}$/.test(s)) return false;
  return Number(s) <= 65535;
}

function bound(addrs: Address[]): Addr {
  return { type: 'bound', addrs, meta: EMPTY_META };
}

/** The resolver: all addresses of a host name (node:dns `lookup` with `all`). */
export type HostResolver = (host: string) => Promise<readonly { address: string }[]>;

const systemResolver: HostResolver = (host) => dnsLookup(host, { all: true, verbatim: true });

async function resolveOnce(host: string, port: number, resolver: HostResolver): Promise<Addr> {
  try {
    const found = await resolver(host);
    if (found.length === 0) return ADDR_NEG;
    const seen = new Set<string>();
    const addrs: Address[] = [];
    for (const f of found) {
      if (seen.has(f.address)) continue;
      seen.add(f.address);
      addrs.push({ host: f.address, port, meta: EMPTY_META });
    }
    return bound(addrs);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    // An unknown host is "no such name", not a failure (Finagle: UnknownHostException → Neg).
    if (code === 'ENOTFOUND' || code === 'ENODATA' || code === 'EAI_NONAME') return ADDR_NEG;
    return { type: 'failed', cause: e instanceof Error ? e : new Error(String(e)) };
  }
}

/**
 * The Addr of `host:port`. `refresh` re-resolves every DNS_REFRESH_MS while observed; a failed
 * refresh after a good answer keeps the good answer.
 */
export function resolveInet(
  host: string,
  port: number,
  refresh: boolean,
  resolver: HostResolver = systemResolver,
  refreshMs: number = DNS_REFRESH_MS,
): Var<Addr> {
  const h = host === '' ? WILDCARD_HOST : host;
  if (isIP(h) !== 0) return new ConstVar<Addr>(bound([{ host: h, port, meta: EMPTY_META }]));
  return new AsyncVar<Addr>(
    ADDR_PENDING,
    (update) => {
      let closed = false;
      let last: Addr = ADDR_PENDING;
      let timer: NodeJS.Timeout | undefined;
      const run = (): void => {
        void resolveOnce(h, port, resolver).then((a) => {
          if (closed) return;
          if (!(last.type === 'bound' && a.type !== 'bound')) {
            last = a;
            update(a);
          }
          if (refresh) {
            timer = setTimeout(run, refreshMs);
            timer.unref();
          }
        });
      };
      run();
      return {
        close: () => {
          closed = true;
          if (timer) clearTimeout(timer);
        },
      };
    },
    addrEquals,
  );
}
