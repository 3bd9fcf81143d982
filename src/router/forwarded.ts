/**
 * Linkerd's `addForwardedHeader` (servers of the http and h2 routers): one RFC 7239 field,
 * `by=<label>;for=<label>`, then `;host=<host>` when the request names one and
 * `;proto=<scheme>` when it carries a scheme. Both routers call `forwardedValue` with plain
 * values read from their own connection and request, so the labelers behave the same on both.
 */
type Obj = Readonly<Record<string, unknown>>;

const RANDOM_CHARS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
/** An RFC 7239 obfuscated identifier: `_` and six letters or digits, as Linkerd makes them. */
function obfuscated(): string {
  let s = '_';
  for (let i = 0; i < 6; i++) s += RANDOM_CHARS[Math.floor(Math.random() * RANDOM_CHARS.length)];
  return s;
}

/** Per-connection labels for `connectionRandom` (by, for), dropped with the connection. */
const connectionLabels = new WeakMap<object, { by: string; for: string }>();

function connectionLabel(connection: object, which: 'by' | 'for'): string {
  let conn = connectionLabels.get(connection);
  if (conn === undefined) {
    conn = { by: obfuscated(), for: obfuscated() };
    connectionLabels.set(connection, conn);
  }
  return conn[which];
}

/**
 * Labels one end of the connection with a `forwardedLabeler` (`ip`, `ip:port`,
 * `requestRandom` (default), `connectionRandom`, `router`, `static`).
 */
function label(k: Obj | undefined, ip: string, port: number, routerLabel: string, connection: object, which: 'by' | 'for'): string {
  const kind = (k?.['kind'] as string | undefined) ?? 'requestRandom';
  switch (kind) {
    case 'ip':
      if (ip === '' || ip === '0.0.0.0' || ip === '::') return 'unknown';
      return ip.includes(':') ? `"[${ip}]"` : ip;
    case 'ip:port':
      if (ip === '' || ip === '0.0.0.0' || ip === '::') return 'unknown';
      return ip.includes(':') ? `"[${ip}]:${port}"` : `"${ip}:${port}"`;
    case 'router':
      return routerLabel.startsWith('_') ? routerLabel : '_' + routerLabel;
    case 'static': {
      const l = String(k?.['label'] ?? '');
      return l.startsWith('_') ? l : '_' + l;
    }
    case 'connectionRandom':
      return connectionLabel(connection, which);
    default:
      return obfuscated();
  }
}

/**
 * The `forwarded` value for one request. `cfg` is the server's `addForwardedHeader` block;
 * `local*` is the end the client reached (labelled `by`), `remote*` the client (`for`);
 * `connection` stands for the client connection (its `connectionRandom` labels are made once
 * and kept while it lives); `host` and `proto` are added when defined, the host under
 * `hostKey`: Linkerd's http router writes RFC 7239's `host=`, its h2 router `authority=`
 * (H2AddForwardedHeader), and each of ours writes what Linkerd's wrote.
 */
export function forwardedValue(
  cfg: Obj,
  routerLabel: string,
  localAddress: string,
  localPort: number,
  remoteAddress: string,
  remotePort: number,
  connection: object,
  host: string | undefined,
  proto: string | undefined,
  hostKey: 'host' | 'authority' = 'host',
): string {
  const by = label(cfg['by'] as Obj | undefined, localAddress, localPort, routerLabel, connection, 'by');
  const f = label(cfg['for'] as Obj | undefined, remoteAddress, remotePort, routerLabel, connection, 'for');
  let v = `by=${by};for=${f}`;
  if (host !== undefined) v += `;${hostKey}=${host}`;
  if (proto !== undefined) v += `;proto=${proto}`;
  return v;
}

const SCHEME = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//;

/** The scheme of an absolute-form request-target (`http://h/p` → `http`); undefined otherwise. */
export function targetScheme(target: string): string | undefined {
  const m = SCHEME.exec(target);
  return m === null ? undefined : m[1];
}
