/**
 * `forwardClientCert` (Linkerd's ForwardClientCertFilter): the `x-forwarded-client-cert` value
 * for a caller's TLS client certificate, `Hash=<SHA-256 of the DER, hex>` then `;SAN=<uri>` and
 * `;DNS=<name>` for each such subject alternative name in the certificate's order, then
 * `;Subject="<subject, RFC 2253>"`. A client without `forwardClientCert` forwards no such field
 * (any the caller sent is removed); one with it and a caller without a certificate passes on
 * what the caller sent, as Linkerd does.
 */
import { createRequire } from 'node:module';

/** node:crypto, loaded by the first certificate forwarded (~0.6 MB a proxy without TLS need not hold). */
let crypto: typeof import('node:crypto') | undefined;
const requireBuiltin = createRequire(import.meta.url);

export const H_XFCC = 'x-forwarded-client-cert';

/** The field value for a certificate in DER form. */
export function xfccValue(der: Buffer): string {
  crypto ??= requireBuiltin('node:crypto') as typeof import('node:crypto');
  const cert = new crypto.X509Certificate(der);
  let out = `Hash=${cert.fingerprint256.replace(/:/g, '')}`;
  for (const [type, value] of subjectAltNames(cert.subjectAltName)) {
    if (type === 'URI') out += `;SAN=${headerSafe(value)}`;
    else if (type === 'DNS') out += `;DNS=${headerSafe(value)}`;
  }
  const subject = rfc2253(cert.subject);
  if (subject !== '') out += `;Subject="${subject}"`;
  return out;
}

/**
 * Node's `subjectAltName` text (`DNS:a, URI:b`, values with special characters quoted as JSON
 * strings) as (type, value) pairs in the certificate's order.
 */
function subjectAltNames(text: string | undefined): [string, string][] {
  const out: [string, string][] = [];
  if (text === undefined) return out;
  let i = 0;
  while (i < text.length) {
    const colon = text.indexOf(':', i);
    if (colon < 0) break;
    const type = text.slice(i, colon);
    let j = colon + 1;
    let value: string;
    if (text[j] === '"') {
      let k = j + 1;
      while (k < text.length && text[k] !== '"') k += text[k] === '\\' ? 2 : 1;
      try {
        value = JSON.parse(text.slice(j, k + 1)) as string;
      } catch {
        value = text.slice(j + 1, k);
      }
      j = k + 1;
    } else {
      const comma = text.indexOf(', ', j);
      const end = comma < 0 ? text.length : comma;
      value = text.slice(j, end);
      j = end;
    }
    out.push([type, value]);
    i = text.startsWith(', ', j) ? j + 2 : j + 1;
  }
  return out;
}

/**
 * Node's subject (one RDN per line, in the certificate's order, special characters already
 * escaped, multi-valued RDNs joined by ` + `) as RFC 2253 text: the last RDN first, `,`
 * between them, `+` inside them. Characters outside printable ASCII are written as `\XX`
 * escapes of their UTF-8 bytes (RFC 2253 2.4), so the value is a safe header field.
 */
function rfc2253(subject: string): string {
  return subject
    .split('\n')
    .filter((l) => l !== '')
    .reverse()
    .map((l) => hexEscape(l.replace(/ \+ /g, '+')))
    .join(',');
}

function hexEscape(text: string): string {
  return text.replace(/[^\x20-\x7e]/gu, (c) => [...Buffer.from(c, 'utf8')].map((b) => `\\${b.toString(16).toUpperCase().padStart(2, '0')}`).join(''));
}

/** A SAN value made header-safe: characters outside printable ASCII percent-encoded (UTF-8). */
function headerSafe(text: string): string {
  return text.replace(/[^\x20-\x7e]/gu, (c) => encodeURIComponent(c));
}

/** Per client connection: its certificate's field value (null: no certificate). */
const byConnection = new WeakMap<object, string | null>();

/** The field value for a connection's peer certificate, computed once per connection. */
export function connectionCertValue(connection: object, peer: () => Buffer | undefined): string | undefined {
  let v = byConnection.get(connection);
  if (v === undefined) {
    const der = peer();
    v = der === undefined || der.length === 0 ? null : xfccValue(der);
    byConnection.set(connection, v);
  }
  return v ?? undefined;
}
