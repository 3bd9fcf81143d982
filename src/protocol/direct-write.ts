/**
 * One write straight to a TCP socket's handle, past Node's Writable stream.
 *
 * `socket.write` on an idle socket spends, besides the system call, a pass through the
 * Writable machinery: its state bookkeeping, a write request object, the completion callback
 * and an after-write tick scheduled with `process.nextTick`. When nothing is queued anywhere
 * (Node's buffer and libuv's are both empty) and the bytes are the writer's own, the handle's
 * `writeBuffer` does the same system call with none of that. This is what `socket.write`
 * itself ends up calling; the request object comes from the same binding (`stream_wrap`).
 *
 * Order is kept because libuv writes a handle's requests in order: a direct write that could
 * not finish at once stays queued in libuv, and any later write (direct ones check
 * `writeQueueSize` and step aside; Node's own go behind it) and the FIN of `end()` (libuv's
 * shutdown waits for queued writes) follow it. A write that fails destroys the socket with
 * the error, as Node's would.
 *
 * Not for every socket: only plain TCP handles (TLS and pipes keep Node's path), not while
 * connecting, ended or destroyed, and not when a socket timeout is set (Node refreshes it on
 * writes; these do not). `socket.bytesWritten` does not count direct writes, and bytes a
 * direct write left queued in libuv do not count toward the socket's high-water mark: later
 * writes go through Node, whose back-pressure then starts one chunk later (a writer's chunk is
 * at most about 64 KiB, half the engine's 128 KiB high-water mark).
 *
 * When this Node's internals do not look as expected (no `process.binding`, no `WriteWrap`,
 * no write state) `writeDirect` always declines and callers use `socket.write`. The contract
 * used here (the caller passes the request object; `kLastWriteWasAsync` says whether the
 * handle kept it) is that of Node 20; a Node whose handles create their own requests exports
 * no `kLastWriteWasAsync` and is detected by that.
 */
import type { Socket } from 'node:net';
import { getSystemErrorName } from 'node:util';

/**
 * The write request object. The handle reads only `oncomplete` (called when a queued write is
 * done); the other fields are ours, set while a write is queued.
 */
interface WriteReq {
  oncomplete: (this: WriteReq, status: number) => void;
  /** Kept referenced until libuv is done with the bytes. */
  buffer: Buffer | null;
  socket: Socket | null;
  callback: ((err?: Error | null) => void) | undefined;
}

interface StreamHandle {
  writeBuffer(req: WriteReq, data: Buffer): number;
  readonly writeQueueSize: number;
}

interface Internals {
  WriteWrap: new () => WriteReq;
  TCP: new (...args: never[]) => StreamHandle;
  state: Int32Array;
  lastWriteWasAsync: number;
}

function load(): Internals | null {
  try {
    const binding = (process as unknown as { binding?: (name: string) => Record<string, unknown> }).binding;
    if (typeof binding !== 'function') return null;
    const sw = binding('stream_wrap');
    const tcp = binding('tcp_wrap');
    const WriteWrap = sw['WriteWrap'];
    const state = sw['streamBaseState'];
    const k = sw['kLastWriteWasAsync'];
    const TCP = tcp['TCP'];
    if (typeof WriteWrap !== 'function' || typeof TCP !== 'function' || !(state instanceof Int32Array) || typeof k !== 'number') return null;
    return { WriteWrap: WriteWrap as Internals['WriteWrap'], TCP: TCP as Internals['TCP'], state, lastWriteWasAsync: k };
  } catch {
    return null;
  }
}

/**
 * `process.binding` is deprecated (DEP0111, documentation-only): under --pending-deprecation
 * it would warn, so direct writes stay off there, as with MESHWORK_NO_DIRECT_WRITE=1.
 */
const pendingDeprecation = process.execArgv.includes('--pending-deprecation') || (process.env['NODE_OPTIONS'] ?? '').includes('--pending-deprecation') || process.env['NODE_PENDING_DEPRECATION'] === '1';
const internals = process.env['MESHWORK_NO_DIRECT_WRITE'] === '1' || pendingDeprecation ? null : load();

/** True when direct writes are in use in this process. */
export const directWrites = internals !== null;

interface SocketInternals {
  _handle: StreamHandle | null;
  connecting: boolean;
  timeout?: number;
}

/** The error a failed write reports (`errno` is libuv's negative code, `code` its name). */
function writeError(status: number): NodeJS.ErrnoException {
  let code: string;
  try {
    code = getSystemErrorName(status);
  } catch {
    code = 'UNKNOWN';
  }
  return Object.assign(new Error(`write ${code}`), { errno: status, code, syscall: 'write' });
}

/** Completion of a write that libuv had to queue: the socket errors out if it failed. */
function onComplete(this: WriteReq, status: number): void {
  const s = this.socket;
  const cb = this.callback;
  this.buffer = null;
  this.socket = null;
  this.callback = undefined;
  if (status < 0) {
    const err = writeError(status);
    cb?.(err);
    if (s !== null && !s.destroyed) s.destroy(err);
  } else cb?.(null);
}

/**
 * A request object not in use. A write that completes at once never hands its request to
 * libuv (the handle only wraps it when bytes must wait), so the next write can use it again.
 */
let spare: WriteReq | null = null;

function newReq(i: Internals): WriteReq {
  const req = new i.WriteWrap();
  req.oncomplete = onComplete;
  req.buffer = null;
  req.socket = null;
  req.callback = undefined;
  return req;
}

/**
 * The socket's TCP handle when direct writes can use it, else null (no handle yet or any more,
 * not TCP, or direct writes off). A socket keeps its handle for life, so a caller writing to
 * the same socket again may keep it: Node's `_handle` is an accessor, dearer than a field.
 */
export function directHandle(s: Socket): object | null {
  if (internals === null) return null;
  const h = (s as unknown as SocketInternals)._handle;
  return h !== null && h instanceof internals.TCP ? h : null;
}

/**
 * Writes `b` (owned: never reused by the caller) to the socket's handle when nothing is queued
 * before it. Returns false without writing when it cannot; the caller then uses
 * `socket.write`. `cb` runs once the bytes reached the kernel (at once when they all did).
 * `handle`: the socket's `directHandle`, when the caller kept it (the socket must not be
 * destroyed: Node drops a destroyed socket's handle, and a kept one would outlive it).
 */
export function writeDirect(s: Socket, b: Buffer, cb?: (err?: Error | null) => void, handle?: object): boolean {
  if (internals === null) return false;
  const si = s as unknown as SocketInternals;
  const h = (handle ?? si._handle) as StreamHandle | null;
  if (h === null || (handle === undefined && !(h instanceof internals.TCP)) || si.connecting || s.writableLength !== 0 || h.writeQueueSize !== 0 || s.destroyed || s.writableEnded) return false;
  if (si.timeout !== undefined && si.timeout !== 0) return false;
  const req = spare ?? newReq(internals);
  spare = null;
  const err = h.writeBuffer(req, b);
  if (err !== 0) {
    // As Node does for its own writes: the socket is destroyed with the error.
    const e = writeError(err);
    cb?.(e);
    s.destroy(e);
    return true;
  }
  if (internals.state[internals.lastWriteWasAsync] !== 0) {
    // The handle keeps this request until libuv is done with it.
    req.buffer = b;
    req.socket = s;
    req.callback = cb;
  } else {
    spare = req;
    cb?.(null);
  }
  return true;
}

/**
 * Bytes written to `s` that have not reached the kernel yet: Node's buffer and its handle's
 * queue in libuv (where a direct write that could not finish waits, and which shrinks as a
 * slow reader takes bytes). It changes while writing makes progress.
 */
export function pendingWriteBytes(s: Socket): number {
  const h = (s as unknown as { _handle: { writeQueueSize?: number } | null })._handle;
  return s.writableLength + (h?.writeQueueSize ?? 0);
}
