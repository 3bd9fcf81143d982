/**
 * A client whose request body is still on its way when the server has already answered (a 404,
 * 405 or 413 sent before the body was read): it sends the head and a first part of the body,
 * waits until the whole answer has arrived, then sends the rest of the body and closes its side.
 * A server that closed as soon as it answered resets the connection, and the rest of the body
 * fails to send (EPIPE or ECONNRESET); one that lingers reads and drops it.
 */
import net from 'node:net';

export interface EarlyAnswer {
  /** Everything the server sent. */
  answer: string;
  /** The error that stopped the client sending the rest of its body, if any. */
  sendError?: string;
  /** Bytes of the body sent without error. */
  sent: number;
}

const CHUNK = 64 * 1024;

/**
 * `head` is the request head (ending in an empty line) declaring `bodyBytes` of body, of which
 * `firstBytes` go before the answer; `answered` says when the answer read so far is whole.
 * Bounded by `ms`.
 */
export function sendBodyAfterAnswer(port: number, head: string, bodyBytes: number, answered: (soFar: string) => boolean, firstBytes = CHUNK, ms = 10_000): Promise<EarlyAnswer> {
  return new Promise((resolve, reject) => {
    // Half-open allowed, as curl and browsers do: the server's FIN after its answer does not end
    // this side's sending (Node's default would, and fail the rest with EPIPE of its own).
    const s = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    let answer = '';
    let sent = 0;
    let queued = 0;
    let sendError: string | undefined;
    let sending = false;
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`no end after ${ms} ms; sent ${sent} of ${bodyBytes}; answer so far ${JSON.stringify(answer.slice(0, 300))}`));
    }, ms);
    const chunk = Buffer.alloc(CHUNK, 0x7a);
    const sendRest = (): void => {
      if (sendError !== undefined || s.destroyed) return;
      if (queued >= bodyBytes) {
        s.end();
        return;
      }
      const n = Math.min(CHUNK, bodyBytes - queued);
      queued += n;
      s.write(n === CHUNK ? chunk : chunk.subarray(0, n), (err) => {
        if (err) return;
        sent += n;
        sendRest();
      });
    };
    s.on('error', (e: NodeJS.ErrnoException) => {
      sendError ??= e.code ?? e.message;
    });
    s.on('data', (b: Buffer) => {
      answer += b.toString('latin1');
      if (!sending && answered(answer)) {
        sending = true;
        sendRest();
      }
    });
    s.on('close', () => {
      clearTimeout(timer);
      resolve({ answer, sent, ...(sendError !== undefined ? { sendError } : {}) });
    });
    const first = Math.min(firstBytes, bodyBytes);
    queued = first;
    s.write(head);
    s.write(Buffer.alloc(first, 0x7a), (err) => {
      if (!err) sent += first;
    });
  });
}

/** The final answer in `soFar` (after an interim 100), once its head and Content-Length body are in. */
export function wholeAnswer(soFar: string): { status: number; body: string } | undefined {
  const s = soFar.replace(/^HTTP\/1\.1 100 Continue\r\n\r\n/, '');
  const end = s.indexOf('\r\n\r\n');
  const length = /\r\ncontent-length: *(\d+)\r\n/i.exec(s.slice(0, end + 2));
  if (end < 0 || length === null || s.length < end + 4 + Number(length[1])) return undefined;
  return { status: Number(s.slice(9, 12)), body: s.slice(end + 4, end + 4 + Number(length[1])) };
}
