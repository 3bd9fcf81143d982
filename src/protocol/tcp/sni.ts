/**
 * The server name a TLS client asks for (SNI, RFC 6066 section 3), read from the start of its
 * ClientHello without terminating TLS, so a TCP proxy can route TLS it passes through by name.
 *
 * `readClientHelloName(bytes)` looks at the bytes a connection sent so far: the handshake
 * records (content type 22) are put together until the ClientHello is whole, then its
 * extensions are walked for `server_name` (type 0) and its `host_name` entry (type 0).
 * Every length is checked against what is there; nothing here throws on a client's bytes.
 */

/** More bytes are needed to decide. */
export const SNI_NEED_MORE = 0;
/** The bytes are not a TLS ClientHello (or one that is malformed). */
export const SNI_NOT_TLS = 1;
/** A whole ClientHello: `name` is its server name, or undefined when it sent none. */
export const SNI_DONE = 2;

export type SniResult = { readonly state: typeof SNI_NEED_MORE | typeof SNI_NOT_TLS } | { readonly state: typeof SNI_DONE; readonly name: string | undefined };

/** Largest ClientHello put together (a post-quantum key share makes them a few KiB). */
export const MAX_CLIENT_HELLO = 64 * 1024;

const NEED_MORE: SniResult = { state: SNI_NEED_MORE };
const NOT_TLS: SniResult = { state: SNI_NOT_TLS };

export function readClientHelloName(b: Buffer): SniResult {
  // Handshake bytes out of consecutive handshake records.
  const parts: Buffer[] = [];
  let have = 0;
  let need = -1;
  let at = 0;
  for (;;) {
    if (b.length - at < 5) return b.length === 0 || b[0] === 0x16 ? NEED_MORE : NOT_TLS;
    // Content type handshake, record version 3.x.
    if (b[at] !== 0x16 || b[at + 1] !== 0x03) return NOT_TLS;
    const len = b.readUInt16BE(at + 3);
    if (len === 0 || len > 16384 + 2048) return NOT_TLS;
    if (b.length - at - 5 < len) return NEED_MORE;
    parts.push(b.subarray(at + 5, at + 5 + len));
    have += len;
    at += 5 + len;
    if (need < 0 && have >= 4) {
      const h = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
      if (h[0] !== 0x01) return NOT_TLS;
      need = 4 + ((h[1]! << 16) | (h[2]! << 8) | h[3]!);
      if (need > MAX_CLIENT_HELLO) return NOT_TLS;
    }
    if (need >= 0 && have >= need) break;
    if (at > MAX_CLIENT_HELLO + 5 * 8) return NOT_TLS;
  }
  const hello = (parts.length === 1 ? parts[0]! : Buffer.concat(parts)).subarray(4, need);
  const name = serverName(hello);
  return name === null ? NOT_TLS : { state: SNI_DONE, name };
}

/** The host_name of a ClientHello body's server_name extension; undefined: none; null: malformed. */
function serverName(h: Buffer): string | undefined | null {
  let i = 2 + 32; // client_version, random
  if (i + 1 > h.length) return null;
  i += 1 + h[i]!; // session_id
  if (i + 2 > h.length) return null;
  i += 2 + h.readUInt16BE(i); // cipher_suites
  if (i + 1 > h.length) return null;
  i += 1 + h[i]!; // compression_methods
  if (i === h.length) return undefined; // no extensions
  if (i + 2 > h.length) return null;
  const end = i + 2 + h.readUInt16BE(i);
  if (end > h.length) return null;
  i += 2;
  while (i + 4 <= end) {
    const type = h.readUInt16BE(i);
    const len = h.readUInt16BE(i + 2);
    i += 4;
    if (i + len > end) return null;
    if (type === 0) return hostName(h.subarray(i, i + len));
    i += len;
  }
  return i === end ? undefined : null;
}

/** The host_name entry of a server_name extension's body (ASCII, as RFC 6066 requires). */
function hostName(e: Buffer): string | undefined | null {
  if (e.length < 2) return null;
  const end = 2 + e.readUInt16BE(0);
  if (end > e.length) return null;
  let i = 2;
  while (i + 3 <= end) {
    const type = e[i]!;
    const len = e.readUInt16BE(i + 1);
    i += 3;
    if (i + len > end) return null;
    if (type === 0) {
      const name = e.toString('latin1', i, i + len);
      return /^[A-Za-z0-9._-]+$/.test(name) && len <= 253 ? name.toLowerCase().replace(/\.$/, '') : null;
    }
    i += len;
  }
  return undefined;
}
