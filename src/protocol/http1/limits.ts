/** Parser limits, named after Linkerd's http server options (`maxInitialLineKB`, `maxHeadersKB`). */
export interface Http1Limits {
  /** Longest request line, KiB; longer answers 414. Linkerd's default is 4. */
  maxInitialLineKB: number;
  /** Largest header section (after the request line), KiB; larger answers 431. Default 8. */
  maxHeadersKB: number;
  /** Most header fields in one head; more answers 431. */
  maxHeaderCount: number;
  /** A client must finish sending a request head within this many ms of starting it (408). */
  headerTimeoutMs: number;
  /**
   * Idle keep-alive connections are closed after this many ms without a request; a request whose
   * body stops coming (nothing from the client for this long while the engine reads it) is
   * answered 408, or its connection dropped if the response has started.
   */
  idleTimeoutMs: number;
  /**
   * Once a request is in, its response must keep coming: nothing from the upstream for this
   * long (no head yet, or a body that stopped) answers 504, or drops the connection if the
   * response has started (Envoy's stream idle timeout, whose default this is). Bytes waiting
   * for the client to read them are not the upstream's silence. Infinity: never.
   */
  responseIdleTimeoutMs: number;
  /** Connections are closed once this old (at once when idle, else after the response); 0: never. */
  lifeTimeMs: number;
  /**
   * `socketOptions.readTimeoutMs` (Netty's ReadTimeoutHandler): a connection from which nothing
   * was read for this long, idle or not, is closed, unless the engine stopped reading it; 0: never.
   */
  readTimeoutMs: number;
  /**
   * `socketOptions.writeTimeoutMs`: a connection whose pending response bytes made no progress
   * toward the client for this long is closed; 0: never.
   */
  writeTimeoutMs: number;
  /**
   * A connection this side ended (FIN) waits this long, once its last bytes are written, for the
   * client to close its side, reading and dropping what it still sends, before it is cut.
   */
  lingerMs: number;
}

export const DEFAULT_LIMITS: Readonly<Http1Limits> = {
  maxInitialLineKB: 4,
  maxHeadersKB: 8,
  maxHeaderCount: 100,
  headerTimeoutMs: 10_000,
  idleTimeoutMs: 300_000,
  responseIdleTimeoutMs: 300_000,
  lifeTimeMs: 0,
  readTimeoutMs: 0,
  writeTimeoutMs: 0,
  lingerMs: 5_000,
};
