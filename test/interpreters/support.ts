/** Helpers for the interpreter tests: plain views of trees and Addrs, and bounded waits. */
import assert from 'node:assert/strict';
import { connect, createServer as createNetServer, type AddressInfo, type Server as NetServer, type Socket } from 'node:net';
import { createServer as createTlsServer, type TlsOptions } from 'node:tls';
import type { Addr } from '../../src/naming/addr.js';
import type { ActivityState, BoundName, Closable, Var } from '../../src/naming/contracts.js';
import type { NameTree } from '../../src/naming/name-tree.js';

/** Things to close at the end of a test file, run in reverse order by its `after`. */
export type Cleanups = Array<() => Promise<void> | void>;

/** A bound tree as plain data, so tests can compare exactly. */
export function plain(t: NameTree<BoundName>): unknown {
  switch (t.type) {
    case 'leaf':
      return { id: t.value.id.show(), residual: t.value.residual.show() };
    case 'alt':
      return { alt: t.trees.map(plain) };
    case 'union':
      return { union: t.trees.map((w) => [w.weight, plain(w.tree)]) };
    default:
      return t.type;
  }
}

export function plainAddr(a: Addr): unknown {
  if (a.type === 'failed') return { failed: a.cause.message };
  if (a.type !== 'bound') return a.type;
  return { addrs: a.addrs.map((x) => `${x.host}:${x.port} ${JSON.stringify(x.meta)}`).sort(), meta: a.meta };
}

/** Keeps a Var observed (so its stream stays open) and waits for values. */
export function watch<T>(v: Var<T>, cleanups: Cleanups): { last(): T; until(pred: (x: T) => boolean, ms?: number, what?: string): Promise<T>; close(): void } {
  let last: T;
  let waiters: Array<{ pred: (x: T) => boolean; resolve: (x: T) => void }> = [];
  const h: Closable = v.observe((x) => {
    last = x;
    const ready = waiters.filter((w) => w.pred(x));
    waiters = waiters.filter((w) => !w.pred(x));
    for (const w of ready) w.resolve(x);
  });
  cleanups.push(() => h.close());
  return {
    last: () => last,
    until: (pred, ms = 3000, what = 'value') =>
      pred(last)
        ? Promise.resolve(last)
        : new Promise((resolve, reject) => {
            const t = setTimeout(() => reject(new Error(`no ${what} within ${ms} ms; last: ${JSON.stringify(last, (_k, x) => (x instanceof Error ? x.message : x))}`)), ms);
            waiters.push({ pred, resolve: (x) => (clearTimeout(t), resolve(x)) });
          }),
    close: () => h.close(),
  };
}

export const okTree = (s: ActivityState<NameTree<BoundName>>): unknown => (s.type === 'ok' ? plain(s.value) : s.type === 'failed' ? { failed: s.error.message } : 'pending');

/** Waits (bounded) for a condition the interpreter exposes no event for. */
export async function eventually(cond: () => boolean, ms: number, what: string): Promise<void> {
  const t0 = Date.now();
  for (let i = 0; i < 1000 && Date.now() - t0 < ms; i++) {
    if (cond()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.ok(cond(), `${what} within ${ms} ms`);
}


/** The bound name of a tree that is a single leaf (fails the test otherwise). */
export function leafOf(s: ActivityState<NameTree<BoundName>>): BoundName {
  assert.ok(s.type === 'ok' && s.value.type === 'leaf', `expected a leaf, got ${JSON.stringify(okTree(s))}`);
  return (s.value as { value: BoundName }).value;
}

/**
 * A TCP relay on `port` (0: any) to `target` (optionally terminating TLS): `close()` stops listening and cuts every relayed
 * connection, which is what a killed namerd looks like to its clients.
 */
export async function tcpRelay(port: number, target: number, tls?: TlsOptions): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const onClient = (client: Socket): void => {
    const upstream = connect(target, '127.0.0.1');
    sockets.add(client).add(upstream);
    const drop = (): void => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    client.pipe(upstream).pipe(client);
  };
  // With `tls`, the relay terminates TLS (offering h2 for gRPC) and relays plain bytes.
  const server: NetServer = tls ? createTlsServer({ ALPNProtocols: ['h2', 'http/1.1'], ...tls }, onClient) : createNetServer(onClient);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  let closed = false;
  return {
    port: (server.address() as AddressInfo).port,
    close: async () => {
      if (closed) return;
      closed = true;
      const done = new Promise<void>((r) => server.close(() => r()));
      for (const s of sockets) s.destroy();
      sockets.clear();
      await done;
    },
  };
}
