/**
 * A router's clients by bound id, shared by the http and h2 routers: bounded by the
 * `bindingCache` capacity (oldest out first), swept when idle past `idleTtlSecs`, snapshotted
 * for the admin and closed with the router. The request path reads `byId` directly (a plain
 * Map); everything else here runs on a miss, a timer or an admin call.
 */

/** What the cache needs of a client (both routers' clients have it). */
export interface CachedClient {
  readonly lastUsed: number;
  close(): void;
  snapshot(): Record<string, unknown>;
}

export class ClientCache<C extends CachedClient> {
  readonly byId = new Map<string, C>();
  private readonly sweeper: NodeJS.Timeout | undefined;

  constructor(
    private readonly capacity: number,
    /** Clients unused this long are closed (0: never). */
    private readonly idleMs: number,
  ) {
    if (idleMs > 0) {
      this.sweeper = setInterval(() => this.sweep(), Math.min(Math.max(idleMs / 2, 50), 60_000));
      this.sweeper.unref();
    }
  }

  /** Caches a new client; past the capacity the oldest are closed. */
  add(id: string, c: C): void {
    const clients = this.byId;
    clients.set(id, c);
    while (clients.size > this.capacity) {
      const oldest = clients.keys().next().value as string;
      clients.get(oldest)!.close();
      clients.delete(oldest);
    }
  }

  private sweep(): void {
    const cutoff = Date.now() - this.idleMs;
    for (const [k, c] of this.byId) {
      if (c.lastUsed < cutoff) {
        c.close();
        this.byId.delete(k);
      }
    }
  }

  /** Client stacks for the admin's client state: id -> endpoints with their state. */
  snapshot(): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const [id, c] of this.byId) out[id] = c.snapshot();
    return out;
  }

  /** Bound names with a client (admin `/bound-names.json`). */
  ids(): string[] {
    return [...this.byId.keys()];
  }

  close(): void {
    if (this.sweeper !== undefined) clearInterval(this.sweeper);
    for (const c of this.byId.values()) c.close();
    this.byId.clear();
  }
}
