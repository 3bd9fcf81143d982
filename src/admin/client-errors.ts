/**
 * Node's http server answers bytes it cannot parse with a bare status line and no body, and an
 * Expect other than 100-continue with an empty 417: a client learns nothing of what was wrong.
 * Meshwork's rule is that a malformed request gets a 4xx with a reason, so the node:http servers
 * a client can reach (the admin server, namerd's httpController) answer these themselves: the
 * statuses Node would choose, with the parser's error code as the reason. Node's own Host check
 * (a bare 400) is turned off for them (`HOST_CHECK_OFF`) and done by `refuseMissingHost`.
 */
import { STATUS_CODES, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';

/** Node's choice of status per parser error; anything else is a 400. */
const STATUS_BY_CODE: Readonly<Record<string, number>> = {
  HPE_HEADER_OVERFLOW: 431,
  HPE_CHUNK_EXTENSIONS_OVERFLOW: 413,
  ERR_HTTP_REQUEST_TIMEOUT: 408,
};

export function answerClientErrors(server: Server): void {
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    // As Node does: write only while no response on this socket has sent its head, since bytes
    // written into a response under way (a watch stream) would corrupt it for the client.
    const inFlight = (socket as Duplex & { _httpMessage?: ServerResponse | null })._httpMessage;
    if (err.code !== 'ECONNRESET' && socket.writable && (inFlight == null || !inFlight.headersSent)) {
      const status = STATUS_BY_CODE[err.code ?? ''] ?? 400;
      const reason = (err as { reason?: unknown }).reason;
      const body = `${STATUS_CODES[status]}: ${err.code ?? 'malformed request'}${typeof reason === 'string' ? ` (${reason})` : ''}\n`;
      socket.write(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\ncontent-type: text/plain\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
    }
    socket.destroy();
  });
  server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => {
    // Node writes the interim 100 of a response still queued behind a pipelined one after that
    // response's head (when its body is a Buffer), so the client reads "HTTP/1.1 100 ..." as the
    // body. Only a response that owns its socket sends the 100; a queued one goes without (RFC 9110
    // section 10.1.1 lets a server omit it: the client sends its body after its own wait).
    if ((req.socket as Duplex & { _httpMessage?: ServerResponse | null })._httpMessage === res) res.writeContinue();
    server.emit('request', req, res);
  });
  server.on('checkExpectation', (req: IncomingMessage, res: ServerResponse) => {
    const body = `unsupported expectation ${JSON.stringify(req.headers.expect ?? '')}: only 100-continue is\n`;
    res.writeHead(417, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
}

/** How long a closing connection goes on reading (and dropping) a request body it did not read. */
export const LINGER_MS = 5_000;
/** Bytes of such a body it reads before it gives up and closes at once. */
export const LINGER_BYTES = 16 << 20;
/** How often a lingering connection's bytes read are checked against LINGER_BYTES. */
const LINGER_CHECK_MS = 10;

/**
 * A lingering close, as nginx and Apache do it. Node's server closes a connection it answered
 * with `Connection: close` (asked for by the client, HTTP/1.0, or an `Expect: 100-continue` that
 * got a final status) as soon as the answer is written, even when the request's body is still
 * arriving because the answer came first (a 404, 405 or 413). Closing a socket with unread bytes
 * makes the kernel send a reset, and a reset that reaches the client before it reads the answer
 * throws the answer away: the client sees EPIPE or ECONNRESET instead of the reason. So a
 * connection whose last request is not complete sends its FIN after the answer and goes on
 * reading and dropping until the body has arrived or the client closes, for at most LINGER_MS
 * and LINGER_BYTES.
 */
export function lingerBeforeClose(server: Server): void {
  const lastRequest = new WeakMap<Socket, IncomingMessage>();
  server.prependListener('request', (req: IncomingMessage) => void lastRequest.set(req.socket, req));
  const hook = (socket: Socket): void => {
    const destroySoon = socket.destroySoon;
    socket.destroySoon = function lingeringDestroySoon(this: Socket): void {
      const req = lastRequest.get(this);
      if (req === undefined || req.complete || this.readableEnded || this.destroyed) return destroySoon.call(this);
      const timer = setTimeout(() => this.destroy(), LINGER_MS);
      timer.unref();
      // Counted on the socket: Node's parser reads it itself and drops the body of a request the
      // handler did not read (a dumped request emits no 'data'), so no listener sees those bytes.
      const from = this.bytesRead;
      const meter = setInterval(() => {
        if (this.bytesRead - from > LINGER_BYTES) this.destroy();
      }, LINGER_CHECK_MS);
      meter.unref();
      this.once('close', () => {
        clearTimeout(timer);
        clearInterval(meter);
      });
      // Closed once the answer is written (end() then waits for that, as Node's own close does).
      const close = (): void => destroySoon.call(this);
      req.once('end', close);
      this.once('end', close);
      this.end();
    };
  };
  // An https server's requests arrive on its TLS sockets; its 'connection' sockets are the TCP ones.
  server.on('connection', hook);
  server.on('secureConnection', hook);
}

/** Options for node:http/https servers that leave the Host check to `refuseMissingHost`. */
export const HOST_CHECK_OFF = { requireHostHeader: false } as const;

/**
 * An HTTP/1.1 request must carry Host (RFC 9112 section 3.2): one without it gets a 400 saying so.
 * True when it was answered.
 */
export function refuseMissingHost(req: IncomingMessage, res: ServerResponse): boolean {
  if (req.headers.host !== undefined || req.httpVersion !== '1.1') return false;
  const body = 'Bad Request: an HTTP/1.1 request must carry a Host header\n';
  res.writeHead(400, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body), connection: 'close' });
  res.end(body);
  return true;
}

/**
 * The request target as a URL, or why it is not one. A target has no fragment (RFC 9112 section
 * 3.2): a `#` a client left unencoded would cut the query short, and the parameters after it (a
 * `dtab=`, say) would be dropped without a word, so it is refused instead.
 */
export function requestUrl(target: string | undefined, base: string): URL | string {
  const t = target ?? '/';
  if (t.includes('#')) return `bad request target ${JSON.stringify(t)}: '#' must be sent as %23`;
  try {
    return new URL(t, base);
  } catch {
    return `bad request target ${JSON.stringify(t)}`;
  }
}
