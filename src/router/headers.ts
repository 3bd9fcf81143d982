/**
 * Linkerd's `l5d-*` headers and the request context they carry between linkers: request
 * dtabs, trace ids (Finagle's 32-byte binary TraceId in base64), deadlines and `Via`.
 */
import { randomFillSync } from 'node:crypto';

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

/** A Finagle trace id: span, parent and trace as 64-bit values in hex, plus flags. */
export interface TraceContext {
  readonly traceId: string;
  readonly spanId: string;
  readonly parentId: string;
  readonly flags: bigint;
}

const FLAG_SAMPLING_KNOWN = 1n << 1n;
const FLAG_SAMPLED = 1n << 2n;

/** Random bytes drawn 4 KiB at a time: one system call per 512 ids instead of one per id. */
const RANDOM_POOL = Buffer.alloc(4096);
let randomAt = RANDOM_POOL.length;

function hex64(): string {
  if (randomAt + 8 > RANDOM_POOL.length) {
    randomFillSync(RANDOM_POOL);
    randomAt = 0;
  }
  const s = RANDOM_POOL.toString('hex', randomAt, randomAt + 8);
  randomAt += 8;
  return s;
}

/** Decodes `l5d-ctx-trace` (base64 of span, parent, trace, flags: 4 x 8 bytes, big-endian). */
export function decodeTrace(v: string | undefined): TraceContext | undefined {
  if (v === undefined) return undefined;
  const b = Buffer.from(v, 'base64');
  if (b.length !== 32 && b.length !== 40) return undefined;
  return {
    spanId: b.subarray(0, 8).toString('hex'),
    parentId: b.subarray(8, 16).toString('hex'),
    traceId: b.subarray(16, 24).toString('hex'),
    flags: b.readBigUInt64BE(24),
  };
}

/** Where encodeTrace assembles the 32 bytes (it runs once per request; nothing is kept). */
const TRACE_BYTES = Buffer.alloc(32);

export function encodeTrace(t: TraceContext): string {
  const b = TRACE_BYTES;
  b.write(t.spanId, 0, 8, 'hex');
  b.write(t.parentId, 8, 8, 'hex');
  b.write(t.traceId, 16, 8, 'hex');
  if (t.flags === 0n) b.fill(0, 24, 32);
  else b.writeBigUInt64BE(BigInt.asUintN(64, t.flags), 24);
  return b.toString('base64', 0, 32);
}

/**
 * The trace context for the request the router sends: a child span of the caller's, or a
 * new root. `sampleOverride` is the `l5d-sample` rate (0..1) the caller asked for.
 */
export function childTrace(parent: TraceContext | undefined, sampleOverride: number | undefined): TraceContext {
  let flags = parent?.flags ?? 0n;
  if (sampleOverride !== undefined && sampleOverride >= 0 && sampleOverride <= 1) {
    flags = (flags & ~FLAG_SAMPLED) | FLAG_SAMPLING_KNOWN | (Math.random() < sampleOverride ? FLAG_SAMPLED : 0n);
  }
  if (parent === undefined) {
    const id = hex64();
    return { traceId: id, spanId: id, parentId: id, flags };
  }
  return { traceId: parent.traceId, spanId: hex64(), parentId: parent.spanId, flags };
}

/** The trace context the router forwards: `l5d-ctx-trace` and `l5d-reqid` values. */
export interface ForwardedTrace {
  /** `l5d-ctx-trace`: base64 of span, parent, trace and flags. */
  header: string;
  /** The trace id in hex (`l5d-reqid`). */
  traceId: string;
}

/** Where forwardTrace decodes the caller's context (up to 40 bytes) and builds the child's. */
const TRACE_IN = Buffer.alloc(48);
const TRACE_OUT: ForwardedTrace = { header: '', traceId: '' };

/**
 * What `encodeTrace(childTrace(decodeTrace(incoming), sample))` gives, built in place: no hex
 * strings, BigInts or objects per request. The result object is reused by the next call.
 */
export function forwardTrace(incoming: string | undefined, sampleOverride: number | undefined): ForwardedTrace {
  const out = TRACE_BYTES;
  if (randomAt + 8 > RANDOM_POOL.length) {
    randomFillSync(RANDOM_POOL);
    randomAt = 0;
  }
  const n = incoming === undefined || incoming.length > 64 ? 0 : TRACE_IN.write(incoming, 'base64');
  if (n === 32 || n === 40) {
    // A child of the caller's span: new span id, the caller's span as parent, same trace, flags.
    RANDOM_POOL.copy(out, 0, randomAt, randomAt + 8);
    TRACE_IN.copy(out, 8, 0, 8);
    TRACE_IN.copy(out, 16, 16, 32);
  } else {
    // A new root: span, parent and trace are one new id; no flags.
    RANDOM_POOL.copy(out, 0, randomAt, randomAt + 8);
    RANDOM_POOL.copy(out, 8, randomAt, randomAt + 8);
    RANDOM_POOL.copy(out, 16, randomAt, randomAt + 8);
    out.fill(0, 24, 32);
  }
  randomAt += 8;
  if (sampleOverride !== undefined && sampleOverride >= 0 && sampleOverride <= 1) {
    // Flag bits 1 (sampling known) and 2 (sampled) live in the last byte (big-endian u64).
    out[31] = (out[31]! & ~4) | 2 | (Math.random() < sampleOverride ? 4 : 0);
  }
  TRACE_OUT.header = out.toString('base64', 0, 32);
  TRACE_OUT.traceId = out.toString('hex', 16, 24);
  return TRACE_OUT;
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
