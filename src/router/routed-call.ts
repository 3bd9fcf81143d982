/**
 * The steps every router's call takes before an attempt leaves, whatever its protocol: read the
 * name's bound tree from the binding cache (waiting up to `bindingTimeoutMs` while it is
 * pending), pick a branch, take that branch's client (a PoolClient, pool-client.ts), wait for
 * the client's addresses the same way, and pick an endpoint with the client's balancer. Each
 * step that cannot go on fails the call with the router's error for it (binding timeout,
 * binding failed, no brokers). What an attempt does on the endpoint is the protocol's own:
 * the http route (route.ts) hands the exchange to the engine pool, the h2 call (h2/call.ts)
 * opens a stream.
 *
 * A call reads each step synchronously when the binding and the addresses are known, so the
 * common request runs from its arrival to its upstream write in one turn.
 */
import type { BoundName } from '../naming/contracts.js';
import type { NameTree } from '../naming/name-tree.js';
import type { Path } from '../naming/path.js';
import type { BindingCache } from './binding-cache.js';
import { RouterError, noBrokersMessage } from './errors.js';
import type { EndpointPool, PoolClient, PoolEndpoint } from './pool-client.js';

/** What a call needs of its router to pick each attempt's client. */
export interface CallRouting<C> {
  readonly bindings: BindingCache;
  /** How long a call waits for a pending binding, then for a client's pending addresses. */
  readonly bindingTimeoutMs: number;
  /** The router's dtab as text (named by "no hosts" errors). */
  readonly baseDtabText: string;
  /** A branch of the bound tree (unions are weighted, alternates fall through). */
  pick(tree: NameTree<BoundName>): BoundName | undefined;
  clientFor(bound: BoundName): C;
}

export abstract class RoutedCall<P extends EndpointPool, C extends PoolClient<P>> {
  /** The client of the attempt in flight or last made (undefined before the first). */
  protected client: C | undefined = undefined;
  /** The bound name `client` serves. */
  protected bound: BoundName | undefined = undefined;

  constructor(
    protected readonly routing: CallRouting<C>,
    /** The request's logical name. */
    readonly dst: Path,
    /** The binding cache key: router dtab, plus the request's dtab when it has one. */
    readonly dtabKey: string,
    /** The request's own dtab (`l5d-dtab` and the like) as text, for errors. */
    readonly localDtab: string,
  ) {}

  /** The caller has its answer or is gone: no attempt may start any more. */
  protected abstract get settled(): boolean;

  /** Ends the call with the router's error. */
  protected abstract fail(err: RouterError): void;

  /** Sends one attempt to `ep`, the pick of `this.client` (set). `now`: the current time. */
  protected abstract sendTo(ep: PoolEndpoint<P>, now: number): void;

  /**
   * Reads the current bound tree and picks the client for this attempt, then sends. `now`:
   * the current time, when the caller has it (a request's first attempt runs in the turn of
   * its arrival and reuses that timestamp).
   */
  protected attempt(now = Date.now()): void {
    if (this.settled) return;
    const entry = this.routing.bindings.get(this.dtabKey, this.dst, now);
    const st = entry.state;
    if (st.type === 'pending') {
      const ms = this.routing.bindingTimeoutMs;
      void entry.settled(ms).then(() => {
        if (this.settled) return;
        if (entry.state.type === 'pending') {
          this.fail(new RouterError('MESH_ERR_ROUTER_TIMEOUT', `exceeded ${ms}ms binding timeout while resolving name: ${this.dst.show()}`, { interrupted: true }));
        } else this.attempt();
      });
      return;
    }
    if (st.type === 'failed') {
      this.fail(new RouterError('MESH_ERR_ROUTER_BINDING_FAILED', `failed to bind ${this.dst.show()}: ${st.error.message}`));
      return;
    }
    const bound = this.routing.pick(st.value);
    if (bound === undefined) {
      this.fail(this.noBrokers());
      return;
    }
    if (bound !== this.bound) {
      this.bound = bound;
      const client = this.routing.clientFor(bound);
      this.client = client;
      client.deposit(now);
    }
    const client = this.client!;
    if (client.addrState.type === 'pending') {
      const ms = this.routing.bindingTimeoutMs;
      void client.addrSettled(ms).then(() => {
        if (this.settled) return;
        if (client.addrState.type === 'pending') {
          this.fail(new RouterError('MESH_ERR_ROUTER_TIMEOUT', `exceeded ${ms}ms binding timeout while resolving name: ${client.id}`, { interrupted: true }));
        } else this.send();
      });
      return;
    }
    this.send(now);
  }

  /** Sends one attempt on the current client (a requeue reuses it), to the endpoint its balancer picks. */
  protected send(now = Date.now()): void {
    if (this.settled) return;
    const client = this.client!;
    const a = client.addrState;
    if (a.type === 'failed' && client.endpointCount === 0) {
      this.fail(new RouterError('MESH_ERR_ROUTER_BINDING_FAILED', `failed to resolve ${client.id}: ${a.cause.message}`));
      return;
    }
    const ep = client.pick();
    if (ep === null) {
      this.fail(this.noBrokers());
      return;
    }
    this.sendTo(ep, now);
  }

  protected noBrokers(): RouterError {
    return new RouterError('MESH_ERR_ROUTER_NO_BROKERS', noBrokersMessage(this.dst.show(), this.routing.baseDtabText, this.localDtab));
  }
}
