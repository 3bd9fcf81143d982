/**
 * Linkerd's `l5d-*` headers and the request context they carry between linkers: request
 * dtabs, trace ids (Finagle's 32-byte binary TraceId in base64), deadlines and `Via`.
 */
import { FLAG_SAMPLED, FLAG_SAMPLING_KNOWN, fillRandom } from '../telemetry/trace-context.js';

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

/** The trace context the router forwards: `l5d-ctx-trace` and `l5d-reqid` values. */
export interface ForwardedTrace {
  /** `l5d-ctx-trace`: base64 of span, parent, trace (low 64 bits), flags [, trace high 64 bits]. */
  header: string;
  /** The trace id's low 64 bits in hex (`l5d-reqid`). */
  traceId: string;
}

/** The caller's context as decoded (up to 48 bytes), and the child's as built. */
const TRACE_IN = Buffer.alloc(48);
const TRACE_OUT = Buffer.alloc(40);
const FORWARDED: ForwardedTrace = { header: '', traceId: '' };

/**
 * The context for the request the router sends, built in place (Finagle's layout, 8 bytes
 * each, big-endian; telemetry/trace-context.ts reads it): a child of the caller's span when
 * `incoming` is 32 or 40 bytes of base64 (new span id, the caller's span as parent, its trace
 * id and flags, its high trace id kept), else a new root whose span, parent and trace are one
 * new id. `sampleOverride` is the `l5d-sample` rate (0..1) the caller asked for. The returned
 * object is reused by the next call.
 */
export function forwardTrace(incoming: string | undefined, sampleOverride: number | undefined): ForwardedTrace {
  const out = TRACE_OUT;
  fillRandom(out, 0, 8); // the new span id
  const n = incoming === undefined || incoming.length > 64 ? 0 : TRACE_IN.write(incoming, 'base64');
  const len = n === 40 ? 40 : 32;
  // Byte loops: Buffer#copy and #fill allocate a view per call and cost more for 8-24 bytes.
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
  FORWARDED.header = out.toString('base64', 0, len);
  FORWARDED.traceId = out.toString('hex', 16, 24);
  return FORWARDED;
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
