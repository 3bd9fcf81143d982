/**
 * `io.l5d.mesh`: a router interpreter that asks namerd over gRPC (io.linkerd.mesh) instead of
 * binding with local namers. Each bound name is one StreamBoundTree call and each bound id one
 * StreamReplicas call, shared by every observer and closed with the last one. When namerd goes
 * away the last state stays in place (requests keep routing) and the streams reconnect with
 * exponential backoff between `retry.baseSeconds` and `retry.maxSeconds`.
 */
import * as grpc from '@grpc/grpc-js';
import { Activity } from '../naming/activity.js';
import type { Addr } from '../naming/addr.js';
import { addrEquals, boundTreeEquals } from '../naming/bound.js';
import type { ActivityState, BoundName, Closable, Var } from '../naming/contracts.js';
import type { Dtab } from '../naming/dtab.js';
import { mapTree } from '../naming/show.js';
import type { NameTree } from '../naming/name-tree.js';
import { Path } from '../naming/path.js';
import { async as asyncVar } from '../naming/var.js';
import { meshServices } from '../namerd/mesh/proto.js';
import { boundTreeFromMsg, dtabToMsg, pathToMsg, replicasToAddr, type BoundNameTreeMsg, type ReplicasMsg } from '../namerd/mesh/codec.js';

/** Past this many names the caches are dropped (live observers keep their streams). */
const MAX_CACHED = 10_000;

export interface MeshInterpreterConfig {
  readonly dst: string;
  readonly root?: string;
  readonly retry?: { readonly baseSeconds?: number; readonly maxSeconds?: number };
}

export class MeshInterpreterError extends Error {
  readonly code = 'MESH_ERR_INTERPRETER_CONFIG';
}

/** `dst` must name namerd directly: `/$/inet/<host>/<port>`. */
export function meshTarget(dst: Path): string {
  const e = dst.utf8Elems;
  if (e.length === 4 && e[0] === '$' && e[1] === 'inet' && /^\d+$/.test(e[3]!)) {
    const host = e[2]!.includes(':') ? `[${e[2]}]` : e[2]!;
    return `${host}:${e[3]}`;
  }
  throw new MeshInterpreterError(`interpreter dst ${dst.show()}: expected /$/inet/<host>/<port> naming namerd's io.l5d.mesh interface`);
}

type StreamFactory<M> = () => grpc.ClientReadableStream<M>;

/**
 * Follows a server stream for as long as the Var is observed; reconnects with backoff and
 * keeps the last value meanwhile.
 */
function followStream<M, T>(open: StreamFactory<M>, toValue: (m: M) => T, initial: T, eq: (a: T, b: T) => boolean, backoff: { baseMs: number; maxMs: number }): Var<T> {
  return asyncVar<T>(
    initial,
    (update) => {
      let closed = false;
      let call: grpc.ClientReadableStream<M> | undefined;
      let timer: NodeJS.Timeout | undefined;
      let attempt = 0;
      const connect = (): void => {
        if (closed) return;
        const c = open();
        call = c;
        c.on('data', (m: M) => {
          attempt = 0;
          update(toValue(m));
        });
        const retry = (): void => {
          if (closed || call !== c) return;
          call = undefined;
          const delay = Math.min(backoff.maxMs, backoff.baseMs * 2 ** attempt++);
          timer = setTimeout(connect, delay);
          timer.unref();
        };
        c.on('error', retry);
        c.on('end', retry);
      };
      connect();
      return {
        close(): void {
          closed = true;
          if (timer) clearTimeout(timer);
          call?.cancel();
        },
      };
    },
    eq,
  );
}

export class MeshInterpreter {
  private readonly interpreter: grpc.Client & Record<string, (req: unknown) => grpc.ClientReadableStream<unknown>>;
  private readonly resolver: grpc.Client & Record<string, (req: unknown) => grpc.ClientReadableStream<unknown>>;
  private readonly root: Path;
  private readonly backoff: { baseMs: number; maxMs: number };
  private readonly addrs = new Map<string, Var<Addr>>();
  private readonly binds = new Map<string, Activity<NameTree<BoundName>>>();

  constructor(config: MeshInterpreterConfig, readPath: (s: string) => Path) {
    const target = meshTarget(readPath(config.dst));
    this.root = readPath(config.root ?? '/default');
    if (this.root.size !== 1) throw new MeshInterpreterError(`interpreter root ${this.root.show()}: expected a single-element path such as /default`);
    const svc = meshServices();
    const creds = grpc.credentials.createInsecure();
    this.interpreter = new svc.Interpreter(target, creds) as never;
    this.resolver = new svc.Resolver(target, creds) as never;
    // Linkerd's defaults are 5 s and 10 min; the backoff starts lower so a restarted namerd is
    // picked up quickly, and is capped by maxSeconds.
    const base = (config.retry?.baseSeconds ?? 5) * 1000;
    this.backoff = { baseMs: Math.min(base, 200), maxMs: (config.retry?.maxSeconds ?? 600) * 1000 };
  }

  /** The Addr of a bound id, shared per id. */
  addr(id: Path): Var<Addr> {
    const key = id.show();
    let v = this.addrs.get(key);
    if (!v) {
      v = followStream<ReplicasMsg, Addr>(
        () => this.resolver['StreamReplicas']!({ id: pathToMsg(id) }) as grpc.ClientReadableStream<ReplicasMsg>,
        replicasToAddr,
        { type: 'pending' },
        addrEquals,
        this.backoff,
      );
      if (this.addrs.size >= MAX_CACHED) this.addrs.clear();
      this.addrs.set(key, v);
    }
    return v;
  }

  bind(dtab: Dtab, path: Path): Activity<NameTree<BoundName>> {
    const key = `${dtab.show()}\u0000${path.show()}`;
    let act = this.binds.get(key);
    if (!act) {
      const req = { root: pathToMsg(this.root), name: pathToMsg(path), dtab: dtabToMsg(dtab) };
      const states = followStream<{ tree?: BoundNameTreeMsg }, ActivityState<NameTree<BoundName>>>(
        () => this.interpreter['StreamBoundTree']!(req) as grpc.ClientReadableStream<{ tree?: BoundNameTreeMsg }>,
        (m) => {
          try {
            const tree = mapTree(boundTreeFromMsg(m.tree), (l): BoundName => ({ id: l.id, residual: l.residual, addr: this.addr(l.id) }));
            return { type: 'ok', value: tree };
          } catch (e) {
            return { type: 'failed', error: e as Error };
          }
        },
        { type: 'pending' },
        (a, b) => a.type === b.type && (a.type !== 'ok' || boundTreeEquals(a.value, (b as typeof a).value)),
        this.backoff,
      );
      act = new Activity(states);
      if (this.binds.size >= MAX_CACHED) this.binds.clear();
      this.binds.set(key, act);
    }
    return act;
  }

  close(): void {
    this.interpreter.close();
    this.resolver.close();
  }
}

export type { Closable };
