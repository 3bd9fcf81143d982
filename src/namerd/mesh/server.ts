/**
 * `io.l5d.mesh`: namerd's gRPC interface (Interpreter, Resolver, Delegator, Codec), the
 * protocol Linkerd's `io.l5d.mesh` interpreter speaks. Streams push a message per change of
 * the underlying Activity/Var and stop when the client cancels.
 */
import * as grpc from '@grpc/grpc-js';
import type { TlsOptions } from 'node:tls';
import { grpcError, grpcServer, listenGrpc, shutdownGrpc } from '../grpc-server.js';
import type { Closable, Var } from '../../naming/contracts.js';
import type { Addr } from '../../naming/addr.js';
import type { BoundName } from '../../naming/contracts.js';
import type { NameTree } from '../../naming/name-tree.js';
import { Dtab } from '../../naming/dtab.js';
import { readDtab, readPath } from '../../naming/index.js';
import type { DelegateTree } from '../../naming/delegator.js';
import { Path } from '../../naming/path.js';
import type { Namespaces } from '../namespaces.js';
import { meshServices } from './proto.js';
import {
  addrToReplicas,
  boundTreeToMsg,
  dtabFromMsg,
  dtabToMsg,
  dentryToMsg,
  pathFromMsg,
  pathToMsg,
  pathTreeFromMsg,
  type BoundLeaf,
  type DtabMsg,
  type PathMsg,
  type PathNameTreeMsg,
} from './codec.js';

export interface MeshServerOptions {
  readonly ip: string;
  readonly port: number;
  /** Serve gRPC over TLS (the interface's `tls` block; `requestCert` asks for client certificates). */
  readonly tls?: TlsOptions;
}

function nsOf(root: PathMsg | undefined): string {
  const p = pathFromMsg(root);
  if (p.isEmpty) throw Object.assign(new Error('root (the namespace) is required'), { code: grpc.status.INVALID_ARGUMENT });
  return p.utf8Elems.join('/');
}

function toLeaves(t: NameTree<BoundName>): NameTree<BoundLeaf> {
  // The wire carries ids and residuals; Addrs are fetched through Resolver.
  return t as unknown as NameTree<BoundLeaf>;
}

function firstValue<T>(v: Var<T>, accept: (t: T) => boolean, timeoutMs: number): Promise<T> {
  return new Promise((resolve, reject) => {
    let done = false;
    let sub: Closable | undefined;
    const timer = setTimeout(() => {
      done = true;
      sub?.close();
      reject(Object.assign(new Error(`no answer within ${timeoutMs} ms`), { code: grpc.status.DEADLINE_EXCEEDED }));
    }, timeoutMs);
    sub = v.observe((t) => {
      if (done || !accept(t)) return;
      done = true;
      clearTimeout(timer);
      queueMicrotask(() => sub?.close());
      resolve(t);
    });
    if (done) sub.close();
  });
}

/** Pushes every change of `v` (rendered; undefined = skip) until the client cancels. */
function pump<T, M>(call: grpc.ServerWritableStream<unknown, M>, v: Var<T>, render: (t: T) => M | undefined | Error): void {
  let closed = false;
  let sub: Closable | undefined;
  const stop = (): void => {
    if (closed) return;
    closed = true;
    sub?.close();
  };
  call.on('cancelled', stop);
  call.on('close', stop);
  call.on('error', stop);
  sub = v.observe((t) => {
    if (closed) return;
    const m = render(t);
    if (m === undefined) return;
    if (m instanceof Error) {
      stop();
      call.emit('error', grpcError(m));
      return;
    }
    call.write(m);
  });
  if (closed) sub.close();
}

export function delegateTreeToMsg(t: DelegateTree<BoundName>): Record<string, unknown> {
  const base: Record<string, unknown> = { path: pathToMsg(t.path) };
  if ('dentry' in t && t.dentry) base['dentry'] = dentryToMsg(t.dentry as never);
  switch (t.type) {
    case 'neg':
      return { ...base, neg: {} };
    case 'fail':
      return { ...base, fail: {} };
    case 'empty':
      return { ...base, empty: {} };
    case 'exception':
      return { ...base, exception: t.error.message };
    case 'leaf':
      return { ...base, leaf: { id: pathToMsg(t.value.id), residual: pathToMsg(t.value.residual) } };
    case 'delegate':
      return { ...base, delegate: delegateTreeToMsg(t.tree) };
    case 'alt':
      return { ...base, alt: { trees: t.trees.map(delegateTreeToMsg) } };
    case 'union':
      return { ...base, union: { trees: t.trees.map((w) => ({ weight: w.weight, tree: delegateTreeToMsg(w.tree) })) } };
    case 'transformation':
      return {
        ...base,
        transformation: {
          name: t.name,
          leaf: { id: pathToMsg(t.value.id), residual: pathToMsg(t.value.residual) },
          tree: delegateTreeToMsg(t.tree),
        },
      };
  }
}

export class MeshServer {
  private server: grpc.Server | undefined;
  private boundPort = 0;

  constructor(
    private readonly namespaces: Namespaces,
    private readonly options: MeshServerOptions,
  ) {}

  private bindActivity(req: { root?: PathMsg; name?: PathMsg; dtab?: DtabMsg }) {
    const ns = nsOf(req.root);
    const extra = req.dtab ? dtabFromMsg(req.dtab) : Dtab.empty;
    return this.namespaces.bind(ns, pathFromMsg(req.name), extra);
  }

  private replicasVar(req: { id?: PathMsg }): Var<Addr> {
    return this.namespaces.addrOf(pathFromMsg(req.id));
  }

  async listen(): Promise<number> {
    const svc = meshServices();
    // Proxies (Linkerd's and ours) ping their namerd session every few seconds to notice a
    // dead connection (io.l5d.mesh failureThreshold); those pings are welcome here. namerd pings
    // its side too (grpcServer), so a proxy that vanished does not keep its watches.
    const server = grpcServer({ 'grpc.http2.min_ping_interval_without_data_ms': 1000, 'grpc.keepalive_permit_without_calls': 1 });
    const unary = <Req, Rsp>(f: (req: Req) => Promise<Rsp> | Rsp) =>
      (call: grpc.ServerUnaryCall<Req, Rsp>, cb: grpc.sendUnaryData<Rsp>): void => {
        Promise.resolve()
          .then(() => f(call.request))
          .then((r) => cb(null, r), (e: unknown) => cb(grpcError(e)));
      };
    const badArg = (e: unknown): never => {
      throw Object.assign(new Error((e as Error).message), { code: grpc.status.INVALID_ARGUMENT });
    };

    server.addService(svc.Interpreter.service, {
      GetBoundTree: unary(async (req: { root?: PathMsg; name?: PathMsg; dtab?: DtabMsg }) => {
        const act = this.bindActivity(req);
        const s = await firstValue(act.states, (x) => x.type !== 'pending', 10_000);
        if (s.type === 'failed') throw s.error;
        if (s.type !== 'ok') throw new Error('pending');
        return { tree: boundTreeToMsg(toLeaves(s.value)) };
      }),
      StreamBoundTree: (call: grpc.ServerWritableStream<{ root?: PathMsg; name?: PathMsg; dtab?: DtabMsg }, unknown>) => {
        let act;
        try {
          act = this.bindActivity(call.request);
        } catch (e) {
          call.emit('error', grpcError(e, grpc.status.INVALID_ARGUMENT));
          return;
        }
        pump(call, act.states, (s) => (s.type === 'pending' ? undefined : s.type === 'failed' ? s.error : { tree: boundTreeToMsg(toLeaves(s.value)) }));
      },
    });

    server.addService(svc.Resolver.service, {
      GetReplicas: unary(async (req: { id?: PathMsg }) => addrToReplicas(await firstValue(this.replicasVar(req), (a) => a.type !== 'pending', 10_000))),
      StreamReplicas: (call: grpc.ServerWritableStream<{ id?: PathMsg }, unknown>) => {
        pump(call, this.replicasVar(call.request), (a) => addrToReplicas(a));
      },
    });

    const dtabRsp = (v: { dtab: unknown; version: string } | null) =>
      v === null ? new Error('namespace not found') : { dtab: { version: { id: Buffer.from(v.version, 'utf8') }, dtab: dtabToMsg(v.dtab as Dtab) } };
    server.addService(svc.Delegator.service, {
      GetDtab: unary(async (req: { root?: PathMsg }) => {
        const r = dtabRsp(await this.namespaces.store.get(nsOf(req.root)));
        if (r instanceof Error) throw Object.assign(r, { code: grpc.status.NOT_FOUND });
        return r;
      }),
      StreamDtab: (call: grpc.ServerWritableStream<{ root?: PathMsg }, unknown>) => {
        let ns: string;
        try {
          ns = nsOf(call.request.root);
        } catch (e) {
          call.emit('error', grpcError(e, grpc.status.INVALID_ARGUMENT));
          return;
        }
        pump(call, this.namespaces.store.observe(ns).states, (s) =>
          s.type === 'pending' ? undefined : s.type === 'failed' ? s.error : s.value === null ? undefined : (dtabRsp(s.value) as object),
        );
      },
      GetDelegateTree: unary(async (req: { root?: PathMsg; tree?: PathNameTreeMsg; dtab?: DtabMsg }) => this.delegateTree(req)),
      StreamDelegateTree: (call: grpc.ServerWritableStream<{ root?: PathMsg; tree?: PathNameTreeMsg; dtab?: DtabMsg }, unknown>) => {
        this.delegateTree(call.request).then(
          (r) => {
            call.write(r);
            call.end();
          },
          (e: unknown) => call.emit('error', grpcError(e)),
        );
      },
    });

    server.addService(svc.Codec.service, {
      ReadDtab: unary((req: { text?: string }) => {
        try {
          return { dtab: dtabToMsg(readDtab(req.text ?? '')) };
        } catch (e) {
          return badArg(e);
        }
      }),
      ShowDtab: unary((req: { dtab?: DtabMsg }) => ({ text: dtabFromMsg(req.dtab ?? {}).show() })),
      ReadPath: unary((req: { text?: string }) => {
        try {
          return { path: pathToMsg(readPath(req.text ?? '')) };
        } catch (e) {
          return badArg(e);
        }
      }),
      ShowPath: unary((req: { path?: PathMsg }) => ({ text: pathFromMsg(req.path).show() })),
    });

    this.server = server;
    this.boundPort = await listenGrpc(server, this.options.ip, this.options.port, this.options.tls, 'io.l5d.mesh');
    return this.boundPort;
  }

  get port(): number {
    return this.boundPort;
  }

  private async delegateTree(req: { root?: PathMsg; tree?: PathNameTreeMsg; dtab?: DtabMsg }): Promise<{ tree: Record<string, unknown> }> {
    const ns = nsOf(req.root);
    const t = pathTreeFromMsg(req.tree);
    if (t.type !== 'leaf') {
      throw Object.assign(new Error('only a single path can be delegated'), { code: grpc.status.INVALID_ARGUMENT });
    }
    const extra = req.dtab ? dtabFromMsg(req.dtab) : Dtab.empty;
    const tree = await this.namespaces.delegate(ns, t.value, extra);
    return { tree: delegateTreeToMsg(tree) };
  }

  /**
   * Stops accepting and lets unary calls finish within `graceMs`; watch streams never end by
   * themselves (proxies follow namerd for as long as it runs), so what is left is then cut.
   */
  async close(graceMs = 1000): Promise<void> {
    const s = this.server;
    if (!s) return;
    this.server = undefined;
    await shutdownGrpc(s, graceMs);
  }
}

export { Path };
