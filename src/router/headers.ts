/**
 * Linkerd's `l5d-*` headers and the request context they carry between linkers: request
 * dtabs, trace ids (Finagle's 32-byte binary TraceId in base64), deadlines and `Via`.
 */
import { FLAG_DEBUG, FLAG_SAMPLED, FLAG_SAMPLING_KNOWN } from '../telemetry/trace-context.js';

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

/** Copies `src` into `out` at `at` (a byte loop: these are short, and Buffer#copy is a native call). */
export function putBytes(out: Uint8Array, at: number, src: Uint8Array): number {
  for (let i = 0; i < src.length; i++) out[at + i] = src[i]!;
  return at + src.length;
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

/**
 * Writes a new random 64-bit id, never zero, as 8 big-endian bytes at `at`. Ids need to be
 * unlikely to collide, not unguessable (telemetry/trace-context.ts draws them the same way).
 */
export function newIdInto(out: Uint8Array, at: number): void {
  const hi = (Math.random() * 0x1_0000_0000) >>> 0;
  let lo = (Math.random() * 0x1_0000_0000) >>> 0;
  if ((hi | lo) === 0) lo = 1; // a zero id means "none" to Zipkin and B3 readers
  out[at] = hi >>> 24; out[at + 1] = hi >>> 16; out[at + 2] = hi >>> 8; out[at + 3] = hi;
  out[at + 4] = lo >>> 24; out[at + 5] = lo >>> 16; out[at + 6] = lo >>> 8; out[at + 7] = lo;
}

/**
 * What a router with a tracer forwards for a new trace it will not record (its sampling draw
 * said no): the context its client span would carry, built without span objects. A new span
 * id, the unrecorded server span's new id as parent, a new trace id, and flags saying
 * "sampling known, not sampled" so that the hops after it record nothing either. Returns 32.
 */
export function unsampledRootInto(out: Uint8Array): number {
  newIdInto(out, 0);
  newIdInto(out, 8);
  newIdInto(out, 16);
  for (let i = 24; i < 31; i++) out[i] = 0;
  out[31] = FLAG_SAMPLING_KNOWN;
  return 32;
}

/** The caller's context as decoded (up to 48 bytes). */
const TRACE_IN = Buffer.alloc(48);

/**
 * Decodes a caller's `l5d-ctx-trace` for `callerSampling` and `unsampledChildInto` (which read
 * it at once: the decoded bytes are kept until the next call). Returns the context's length,
 * 32 or 40 bytes, or 0 when the value is not a context.
 */
export function readCallerTrace(value: string): number {
  const n = value.length > 64 ? 0 : TRACE_IN.write(value, 'base64');
  return n === 32 || n === 40 ? n : 0;
}

/** The sampling decision of the context `readCallerTrace` read: 1 sampled, 0 not, -1 open. */
export function callerSampling(): number {
  const flags = TRACE_IN[31]!;
  return (flags & FLAG_SAMPLING_KNOWN) === 0 ? -1 : (flags & FLAG_SAMPLED) !== 0 ? 1 : 0;
}

/**
 * What a router with a tracer forwards for a caller's 32-byte context (`readCallerTrace`) when
 * nothing will be recorded: the context of a client span whose parent is the router's own
 * (unrecorded) server span, a child of the caller's. New span and parent ids, the caller's trace
 * id and debug flag, and "sampling known, not sampled". Returns 32.
 */
export function unsampledChildInto(out: Uint8Array): number {
  newIdInto(out, 0);
  newIdInto(out, 8);
  for (let i = 16; i < 24; i++) out[i] = TRACE_IN[i]!;
  for (let i = 24; i < 31; i++) out[i] = 0;
  out[31] = (TRACE_IN[31]! & FLAG_DEBUG) | FLAG_SAMPLING_KNOWN;
  return 32;
}

/**
 * The context for the request the router sends, built into `out` (40 bytes; Finagle's layout,
 * 8 bytes each, big-endian; telemetry/trace-context.ts reads it): a child of the caller's span
 * when `incoming` is 32 or 40 bytes of base64 (new span id, the caller's span as parent, its
 * trace id and flags, its high trace id kept), else a new root whose span, parent and trace
 * are one new id. `sampleOverride` is the `l5d-sample` rate (0..1) the caller asked for.
 * Returns the context's length: 32, or 40 with a 128-bit trace id.
 */
export function traceContextInto(out: Uint8Array, incoming: string | undefined, sampleOverride: number | undefined): number {
  newIdInto(out, 0); // the new span id
  const n = incoming === undefined || incoming.length > 64 ? 0 : TRACE_IN.write(incoming, 'base64');
  const len = n === 40 ? 40 : 32;
  if (n === 32 || n === 40) {
    for (let i = 0; i < 8; i++) out[8 + i] = TRACE_IN[i]!;
    for (let i = 16; i < n; i++) out[i] = TRACE_IN[i]!;
  } else {
    for (let i = 0; i < 8; i++) {
      const v = out[i]!;
      out[8 + i] = v;
      out[16 + i] = v;
      out[24 + i] = 0;
    }
  }
  if (sampleOverride !== undefined && sampleOverride >= 0 && sampleOverride <= 1) {
    // The sampling bits live in the flags' last byte.
    out[31] = (out[31]! & ~FLAG_SAMPLED) | FLAG_SAMPLING_KNOWN | (Math.random() < sampleOverride ? FLAG_SAMPLED : 0);
  }
  return len;
}

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
