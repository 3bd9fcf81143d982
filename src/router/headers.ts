/**
 * Linkerd's `l5d-*` headers and the request context they carry between linkers: request
 * dtabs, trace ids (the context's bytes are built in telemetry/trace-context.ts; written here
 * as the `l5d-ctx-trace` and `l5d-reqid` fields), deadlines and `Via`.
 */
import { copyBytes, writeLatin1 } from '../protocol/http1/chars.js';

export const H_DTAB = 'l5d-dtab';
export const H_CTX_DTAB = 'l5d-ctx-dtab';
export const H_CTX_DEADLINE = 'l5d-ctx-deadline';
export const H_CTX_TRACE = 'l5d-ctx-trace';
export const H_SAMPLE = 'l5d-sample';
export const H_DST_SERVICE = 'l5d-dst-service';
export const H_DST_CLIENT = 'l5d-dst-client';
export const H_DST_RESIDUAL = 'l5d-dst-residual';
export const H_REQID = 'l5d-reqid';
export const H_ERR = 'l5d-err';
export const H_RETRYABLE = 'l5d-retryable';
export const VIA_ENTRY = '1.1 linkerd';

/** One header field as the bytes forwarded (`name: value\r\n`, latin1 as header values are read). */
export function fieldBytes(name: string, value: string): Buffer {
  return Buffer.from(`${name}: ${value}\r\n`, 'latin1');
}

/** The `Via` field a router adds when the request came without one. */
export const VIA_FIELD = fieldBytes('via', VIA_ENTRY);

const RESIDUAL_PREFIX = Buffer.from(`${H_DST_RESIDUAL}: `, 'latin1');

/** Bytes `writeResidualField` writes for a residual path's text. */
export function residualFieldLength(residual: string): number {
  return RESIDUAL_PREFIX.length + residual.length + 2;
}

/**
 * Writes `l5d-dst-residual: <residual>\r\n` at `at` (a path's text is ASCII: `Path.show`
 * escapes the rest); returns the offset past it.
 */
export function writeResidualField(out: Buffer, at: number, residual: string): number {
  at = copyBytes(RESIDUAL_PREFIX, 0, RESIDUAL_PREFIX.length, out, at);
  at = writeLatin1(out, at, residual);
  out[at++] = 0x0d;
  out[at++] = 0x0a;
  return at;
}

/** Hop-by-hop headers (RFC 7230 6.1) plus the proxy ones; never forwarded as-is. */
export const HOP_BY_HOP: ReadonlySet<string> = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'upgrade',
]);

const B64 = new Uint8Array(64);
for (let i = 0; i < 64; i++) B64[i] = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'.charCodeAt(i);
const HEX = new Uint8Array(16);
for (let i = 0; i < 16; i++) HEX[i] = '0123456789abcdef'.charCodeAt(i);
const CTX_TRACE_PREFIX = Buffer.from(`${H_CTX_TRACE}: `, 'latin1');
const REQID_PREFIX = Buffer.from(`\r\n${H_REQID}: `, 'latin1');

/** Bytes `writeTraceFields` writes for a context of `len` bytes (32 or 40). */
export function traceFieldsLength(len: number): number {
  return CTX_TRACE_PREFIX.length + Math.ceil(len / 3) * 4 + REQID_PREFIX.length + 16 + 2;
}

/**
 * Writes `l5d-ctx-trace: <base64 of ctx[0, len)>\r\nl5d-reqid: <trace id in hex>\r\n` at
 * `at`, without making strings; returns the offset past it.
 */
export function writeTraceFields(out: Uint8Array, at: number, ctx: Uint8Array, len: number): number {
  for (let i = 0; i < CTX_TRACE_PREFIX.length; i++) out[at++] = CTX_TRACE_PREFIX[i]!;
  let i = 0;
  for (; i + 3 <= len; i += 3) {
    const v = (ctx[i]! << 16) | (ctx[i + 1]! << 8) | ctx[i + 2]!;
    out[at++] = B64[v >>> 18]!;
    out[at++] = B64[(v >>> 12) & 63]!;
    out[at++] = B64[(v >>> 6) & 63]!;
    out[at++] = B64[v & 63]!;
  }
  const rest = len - i;
  if (rest > 0) {
    const v = (ctx[i]! << 16) | (rest === 2 ? ctx[i + 1]! << 8 : 0);
    out[at++] = B64[v >>> 18]!;
    out[at++] = B64[(v >>> 12) & 63]!;
    out[at++] = rest === 2 ? B64[(v >>> 6) & 63]! : 0x3d;
    out[at++] = 0x3d;
  }
  for (let k = 0; k < REQID_PREFIX.length; k++) out[at++] = REQID_PREFIX[k]!;
  for (let k = 16; k < 24; k++) {
    const b = ctx[k]!;
    out[at++] = HEX[b >>> 4]!;
    out[at++] = HEX[b & 15]!;
  }
  out[at++] = 0x0d;
  out[at++] = 0x0a;
  return at;
}

/** `l5d-ctx-deadline: <timestamp ns> <deadline ns>`; several values: the tightest wins. */
export function parseDeadline(values: readonly string[]): { timestampNs: bigint; deadlineNs: bigint } | undefined {
  let best: { timestampNs: bigint; deadlineNs: bigint } | undefined;
  for (const v of values) {
    const parts = v.trim().split(/\s+/);
    if (parts.length !== 2 || !/^-?\d+$/.test(parts[0]!) || !/^-?\d+$/.test(parts[1]!)) continue;
    const d = { timestampNs: BigInt(parts[0]!), deadlineNs: BigInt(parts[1]!) };
    if (best === undefined || d.deadlineNs < best.deadlineNs) best = d;
  }
  return best;
}

export function formatDeadline(timestampNs: bigint, deadlineNs: bigint): string {
  return `${timestampNs} ${deadlineNs}`;
}

export function nowNs(): bigint {
  return BigInt(Date.now()) * 1_000_000n;
}

/** Number of hops recorded in `Via` header values (comma-separated entries). */
export function viaDepth(values: readonly string[]): number {
  let n = 0;
  for (const v of values) {
    for (const part of v.split(',')) if (part.trim() !== '') n++;
  }
  return n;
}
