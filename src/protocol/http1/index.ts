/**
 * The lean HTTP/1.1 engine: bytes in, requests out, built for the cost per request.
 *
 * Server side — `createHttp1Server(handler, limits)` returns an Http1Server (`listen`, `close`).
 * The handler is called once per request with an `Http1Exchange`:
 *   - `ex.head: Http1RequestHead` — parsed in place over the received bytes. `method`,
 *     `target`, `version` decode lazily; `header(lowerName)` / `headerAll(lowerName)` scan the
 *     raw buffer; `set(lowerName, value)`, `remove(lowerName)` and assigning `target` record
 *     edits applied only when `toBuffer()` serialises the head for forwarding (unedited heads
 *     are forwarded as the same bytes); `head.extra` (a HeadExtra) writes fields a handler adds
 *     to every request straight into the forwarded bytes, after all others.
 *     `bodyKind`, `contentLength`, `keepAlive`, `isHead`.
 *   - request body: `ex.hasBody`, `ex.pipeBody(sink)` streams the body in wire framing
 *     (chunked stays chunked, trailers included); a sink returning false pauses the client
 *     until `ex.resumeBody()`.
 *   - response: `ex.writeInterim(bytes)` for a 1xx (the response has not started: a final
 *     one or an error answer follows), `ex.write(bytes)` (head + body in wire framing,
 *     borrowed: `ex.held` says when the socket still points into them) or
 *     `ex.writeOwned(bytes)` (handed over), `ex.end(close)`, or
 *     `ex.respond(status, headers, body)` for a local answer, `ex.fail(Http1Error)` for an
 *     error answer with `l5d-err` (or an abort once bytes were sent). `ex.status` carries the
 *     response status; `ex.responseListener` sees each final response head first (and may
 *     discard it, for a retry), upstream failures (`onUpstreamError`) and the end of the
 *     exchange (`onDone`, once); `ex.responseHeaders` (pre-built "name: value\r\n" bytes) are
 *     spliced into the forwarded response head and `ex.stripResponseHeaders` names fields to
 *     drop from it; `ex.keepBody(limit)` keeps a small body so the request can be resent;
 *     `ex.context` is free for the router.
 * The engine answers parse failures itself (400/414/431/501/505, 408 on slow heads) and
 * closes the connection; pipelined requests are answered in order.
 *
 * Client side — `new Http1Pool({host, port, maxConnections, maxQueue})` per upstream endpoint:
 * `pool.dispatch(ex)` writes `ex.head.toBuffer()` and the body on a keep-alive connection
 * (queueing when all are busy) and streams the response into `ex` with its framing found in
 * place (Content-Length, chunked, close-delimited, HEAD/1xx/204/304); a chunked body to an
 * HTTP/1.0 client goes as its data only, ended by the close (dechunk.ts). Upstream failures reach
 * the exchange's listener, or the client through `ex.fail` (502/503); a request on a stale
 * reused connection is resent once when it can be replayed and no byte came back. A 101
 * answer to a request that asked to upgrade turns the client and upstream connections into a
 * tunnel (to any other request it is a malformed response). Pools take
 * `maxConnections`, `maxQueue`, `idleTimeoutMs` and `minConnections`.
 *
 * Reads and writes — adopt.ts: accepted client sockets are moved into `onread` sockets that
 * read into one shared buffer (copied out per read), instead of a fresh allocation and a
 * Readable pass per read; upstream reads land in a per-connection buffer (`onread`) that is
 * replaced only when a write still holds it. ../write-batch.ts (shared with the tcp engine): each connection's SocketWriter
 * holds the bytes written during one batch of I/O callbacks and writes them after it (one
 * wake-up of the peer per batch); every write and end on a connection goes through it.
 * ../direct-write.ts: a writer's batch leaves through the TCP handle's `writeBuffer` when nothing
 * is queued before it, skipping Node's Writable bookkeeping (`MESHWORK_NO_DIRECT_WRITE=1`
 * turns that off).
 *
 * `createHttp1Proxy` wires the two for a fixed upstream (the `/$/inet/host/port` case);
 * `runWorkers` gives `--workers N` via node:cluster.
 *
 * Hop-by-hop headers are forwarded as received; a router that must strip them calls
 * `head.remove('connection')` etc. (src/router/router.ts does).
 */
export { createHttp1Server, Http1Exchange, type Http1Server, type Http1Handler, type BodySink, type DrainListener, type CancelListener, type ResponseListener } from './server.js';
export { Http1Pool, type Http1PoolOptions } from './pool.js';
export { ResponseInfo, responseField } from './response-head.js';
export { Http1RequestHead, parseRequestHead } from './request-head.js';
export { Http1Error, STATUS_OF, type Http1ErrorCode } from './errors.js';
export { DEFAULT_LIMITS, type Http1Limits } from './limits.js';
export { BODY_NONE, BODY_LENGTH, BODY_CHUNKED, BODY_CLOSE, BodyFramer } from './framing.js';
export { createHttp1Proxy, type Http1ProxyOptions, type Http1Proxy } from './proxy.js';
export { runWorkers } from './workers.js';
