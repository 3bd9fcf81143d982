/**
 * A small HTTP/1.1 (or HTTPS) client for the k8s and consul stores and namers: JSON requests and line-delimited
 * streams over one keep-alive agent per store, which `close()` tears down (so a closed store
 * leaves no sockets or blocking queries behind).
 */
import { Agent, request as httpRequest, type ClientRequest, type IncomingHttpHeaders, type IncomingMessage, type RequestOptions as NodeRequestOptions } from 'node:http';
import { createRequire } from 'node:module';
import type { ConnectionOptions } from 'node:tls';

/** node:https, loaded only for a client with TLS (it holds ~1 MB resident). */
const requireBuiltin = createRequire(import.meta.url);

export interface HttpResult {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

export interface RequestOptions {
  readonly body?: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly signal?: AbortSignal;
}

export class HttpClient {
  private readonly agent: Agent;
  private readonly send: (opts: NodeRequestOptions, onResponse: (res: IncomingMessage) => void) => ClientRequest;

  /** `tls`: node:tls connect options (config/tls.ts) to speak HTTPS; absent: plain HTTP. */
  constructor(
    readonly host: string,
    readonly port: number,
    tls?: ConnectionOptions,
  ) {
    if (tls === undefined) {
      this.agent = new Agent({ keepAlive: true, maxSockets: 64 });
      this.send = httpRequest;
    } else {
      const https = requireBuiltin('node:https') as typeof import('node:https');
      this.agent = new https.Agent({ keepAlive: true, maxSockets: 64, ...tls });
      this.send = https.request;
    }
  }

  private open(method: string, path: string, opts: RequestOptions, onResponse: (res: IncomingMessage) => void, onError: (e: Error) => void): void {
    const headers: Record<string, string> = { accept: 'application/json', ...opts.headers };
    if (opts.body !== undefined) {
      headers['content-type'] ??= 'application/json';
      headers['content-length'] = String(Buffer.byteLength(opts.body));
    }
    const req = this.send({ host: this.host, port: this.port, method, path, headers, agent: this.agent, signal: opts.signal }, onResponse);
    req.on('error', onError);
    req.end(opts.body);
  }

  request(method: string, path: string, opts: RequestOptions = {}): Promise<HttpResult> {
    return new Promise((resolve, reject) => {
      this.open(
        method,
        path,
        opts,
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', reject);
          res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
        },
        reject,
      );
    });
  }

  /**
   * GETs a stream of newline-delimited documents. With a 200, `onLine` gets every non-empty
   * line and the promise resolves (with 200) when the server ends the stream; any other
   * status resolves at once with that status and its body.
   */
  stream(path: string, onLine: (line: string) => void, opts: RequestOptions = {}): Promise<HttpResult> {
    return new Promise((resolve, reject) => {
      this.open(
        'GET',
        path,
        opts,
        (res) => {
          const status = res.statusCode ?? 0;
          let buf = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => {
            if (status !== 200) {
              buf += chunk;
              return;
            }
            buf += chunk;
            let nl: number;
            while ((nl = buf.indexOf('\n')) >= 0) {
              const line = buf.slice(0, nl).trim();
              buf = buf.slice(nl + 1);
              if (line === '') continue;
              // A line the caller rejects ends the stream with that error.
              try {
                onLine(line);
              } catch (e) {
                reject(e); // first: destroying the response rejects too, with a vaguer error
                res.destroy();
                return;
              }
            }
          });
          res.on('error', reject);
          res.on('aborted', () => reject(new Error('stream aborted')));
          res.on('end', () => {
            if (status === 200 && buf.trim() !== '') {
              try {
                onLine(buf.trim());
              } catch (e) {
                reject(e);
                return;
              }
            }
            resolve({ status, headers: res.headers, body: status === 200 ? '' : buf });
          });
        },
        reject,
      );
    });
  }

  close(): void {
    this.agent.destroy();
  }
}
