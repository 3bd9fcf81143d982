/**
 * `io.l5d.mesh`: a router interpreter that asks namerd over gRPC (io.linkerd.mesh) instead of
 * binding with local namers. Each bound name is one StreamBoundTree call and each bound id one
 * StreamReplicas call, shared by every observer and closed with the last one. When namerd goes
 * away the last state stays in place (requests keep routing) and the streams reconnect with
 * exponential backoff between `retry.baseSeconds` and `retry.maxSeconds`.
 *
 * Which dtab is sent: the one the router hands bind(), unchanged, as Linkerd's mesh Client does
 * (interpreter/mesh/.../mesh/Client.scala:92 `mkBindReq(root, path, dtab)`, :445-446 puts it in
 * BindReq.dtab). Linkerd's router hands its interpreter `baseDtab ++ localDtab`
 * (router/core/.../finagle/buoyant/Dst.scala:18; the identifiers build
 * `Dst.Path(prefix ++ path, baseDtab(), Dtab.local)`, e.g. router/http/.../MethodAndHostIdentifier.scala:27,
 * with baseDtab the router's `dtab:` per linkerd/core/.../Router.scala:158; linkerd/linkerd 1.7.5).
 * So namerd receives the router's dtab followed by the request's dentries — ours too.
 */
import * as grpc from '@grpc/grpc-js';
import { isIP } from 'node:net';
import { Activity } from '../naming/activity.js';
import type { Addr } from '../naming/addr.js';
import { addrEquals, boundTreeEquals } from '../naming/bound.js';
import type { ActivityState, BoundName, Closable, Var } from '../naming/contracts.js';
import type { Dtab } from '../naming/dtab.js';
import { mapTree } from '../naming/show.js';
import type { NameTree } from '../naming/name-tree.js';
import { Path } from '../naming/path.js';
import { interpreterConfigError, type ConfigWhere } from './errors.js';
import { commonNameCheck, readTls, type NamerdTlsConfig } from './tls.js';
import { backoffFrom, followStream, inetTarget, type Backoff, type FollowStats, type OpenStream } from './follow.js';
import { meshServices } from '../namerd/mesh/proto.js';
import { boundTreeFromMsg, delegateTreeFromMsg, dtabToMsg, pathToMsg, pathTreeToMsg, replicasToAddr, type BoundDelegateTreeMsg, type BoundNameTreeMsg, type ReplicasMsg } from '../namerd/mesh/codec.js';
import { delegateTreeToJson, showNameTree } from '../naming/index.js';
import { leaf } from '../naming/name-tree.js';

/** Past this many names the caches are dropped (live observers keep their streams). */
const MAX_CACHED = 10_000;

export interface MeshInterpreterConfig {
  readonly dst: string;
  readonly root?: string;
  readonly retry?: { readonly baseSeconds?: number; readonly maxSeconds?: number };
  readonly tls?: NamerdTlsConfig;
  /** Linkerd's session failure detector: a ping every `minPeriodMs`, the session closed when
   * one is not answered within `closeTimeoutMs` (gRPC keepalive here). */
  readonly failureThreshold?: { readonly minPeriodMs?: number; readonly closeTimeoutMs?: number };
  /** HTTP/2 stream flow-control window, KiB. */
  readonly initialStreamWindowSizeKB?: number;
}

/** `dst` must name namerd directly: `/$/inet/<host>/<port>`; the gRPC target `host:port`. */
export function meshTarget(dst: Path, where?: ConfigWhere): string {
  const t = inetTarget(dst, where);
  return `${t.host.includes(':') ? `[${t.host}]` : t.host}:${t.port}`;
}

/** One server stream as an OpenStream: each message becomes a value; error or end ends it. */
function grpcStream<M, T>(open: () => grpc.ClientReadableStream<M>, toValue: (m: M) => T): OpenStream<T> {
  return (sink) => {
    const call = open();
    call.on('data', (m: M) => sink.value(toValue(m)));
    call.on('error', (e: Error) => sink.end(e));
    call.on('end', () => sink.end());
    return {
      close(): void {
        call.cancel();
      },
    };
  };
}

export class MeshInterpreter {
  private readonly interpreter: grpc.Client & Record<string, (req: unknown) => grpc.ClientReadableStream<unknown>>;
  private readonly resolver: grpc.Client & Record<string, (req: unknown) => grpc.ClientReadableStream<unknown>>;
  private readonly delegator: grpc.Client & Record<string, (req: unknown, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, rsp: { tree?: BoundDelegateTreeMsg }) => void) => void>;
  private readonly root: Path;
  readonly backoff: Backoff;
  /** Streams opened and ended, for tests and the admin page. */
  readonly stats: FollowStats = { opened: 0, ended: 0 };
  private readonly addrs = new Map<string, Var<Addr>>();
  private readonly binds = new Map<string, Activity<NameTree<BoundName>>>();

  constructor(config: MeshInterpreterConfig, readPath: (s: string) => Path, where?: ConfigWhere) {
    const target = meshTarget(readPath(config.dst), where);
    this.root = readPath(config.root ?? '/default');
    if (this.root.size !== 1) throw interpreterConfigError(where, 'root', this.root.show(), 'a single-element path such as /default');
    const svc = meshServices();
    // Linkerd's defaults are 5 s and 10 min (MeshInterpreterInitializer); the first wait is
    // baseSeconds, as Linkerd's Backoff.exponentialJittered(base, max) starts there.
    this.backoff = backoffFrom(config.retry);
    const tls = readTls(config.tls, where);
    const cn = tls?.commonName;
    const creds = tls
      ? grpc.credentials.createSsl(tls.ca ?? null, tls.key ?? null, tls.cert ?? null, {
          rejectUnauthorized: tls.rejectUnauthorized,
          ...(cn !== undefined ? { checkServerIdentity: commonNameCheck(cn) } : {}),
        })
      : grpc.credentials.createInsecure();
    // The channel's own reconnect backoff (grpc-js: 1 s doubling to 2 min) would otherwise
    // hold a restarted namerd off longer than the configured retry.
    // One channel of our own for both services (a local subchannel pool), so close() really
    // closes the connection instead of leaving it to the global pool's sweep.
    const options: grpc.ChannelOptions = {
      'grpc.initial_reconnect_backoff_ms': this.backoff.baseMs,
      'grpc.max_reconnect_backoff_ms': this.backoff.maxMs,
      'grpc.use_local_subchannel_pool': 1,
      // failureThreshold: a silently dead namerd connection is noticed and redialled.
      'grpc.keepalive_time_ms': config.failureThreshold?.minPeriodMs ?? 5000,
      'grpc.keepalive_timeout_ms': config.failureThreshold?.closeTimeoutMs ?? 4000,
      'grpc-node.flow_control_window': (config.initialStreamWindowSizeKB ?? 1024) * 1024,
      ...(cn !== undefined && isIP(cn) === 0 ? { 'grpc.ssl_target_name_override': cn, 'grpc.default_authority': cn } : {}),
    };
    this.interpreter = new svc.Interpreter(target, creds, options) as never;
    this.resolver = new svc.Resolver(target, creds, { ...options, channelOverride: this.interpreter.getChannel() }) as never;
    this.delegator = new svc.Delegator(target, creds, { ...options, channelOverride: this.interpreter.getChannel() }) as never;
  }

  /** The Addr of a bound id, shared per id. */
  addr(id: Path): Var<Addr> {
    const key = id.show();
    let v = this.addrs.get(key);
    if (!v) {
      v = followStream<Addr>(
        { type: 'pending' },
        grpcStream(() => this.resolver['StreamReplicas']!({ id: pathToMsg(id) }) as grpc.ClientReadableStream<ReplicasMsg>, replicasToAddr),
        addrEquals,
        this.backoff,
        this.stats,
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
      const states = followStream<ActivityState<NameTree<BoundName>>>(
        { type: 'pending' },
        grpcStream(() => this.interpreter['StreamBoundTree']!(req) as grpc.ClientReadableStream<{ tree?: BoundNameTreeMsg }>, (m) => {
          try {
            const tree = mapTree(boundTreeFromMsg(m.tree), (l): BoundName => ({ id: l.id, residual: l.residual, addr: this.addr(l.id) }));
            return { type: 'ok', value: tree };
          } catch (e) {
            return { type: 'failed', error: e as Error };
          }
        }),
        (a, b) => a.type === b.type && (a.type !== 'ok' || boundTreeEquals(a.value, (b as typeof a).value)),
        this.backoff,
        this.stats,
      );
      act = new Activity(states);
      if (this.binds.size >= MAX_CACHED) this.binds.clear();
      this.binds.set(key, act);
    }
    return act;
  }

  /** Closes the channel: no new streams are opened (observers keep their last state). */
  /**
   * namerd's explanation of `path` under its namespace dtab followed by `dtab` (the admin
   * playground of a router that follows namerd), as Linkerd's delegator JSON; bound leaves
   * show their Addr from namerd's Resolver.
   */
  async delegate(dtab: Dtab, path: Path, timeoutMs = 5000): Promise<unknown> {
    const req = { root: pathToMsg(this.root), tree: pathTreeToMsg(leaf(path)), dtab: dtabToMsg(dtab) };
    const rsp = await new Promise<{ tree?: BoundDelegateTreeMsg }>((resolve, reject) => {
      this.delegator['GetDelegateTree']!(req, { deadline: Date.now() + timeoutMs }, (err, r) => (err ? reject(new Error(`namerd delegation failed: ${err.details || err.message}`)) : resolve(r)));
    });
    const tree = delegateTreeFromMsg(rsp.tree, (l): BoundName => ({ id: l.id, residual: l.residual, addr: this.addr(l.id) }));
    return delegateTreeToJson(tree, { showTree: showNameTree, timeoutMs });
  }

  close(): void {
    this.interpreter.close();
  }
}

export type { Closable };
