/**
 * `admin.httpIdentifierPort`: Linkerd's HTTP identifier debug endpoint. Any request to it is
 * run through every http router's identifier (nothing is routed) and answered with a JSON map
 * `{<router label>: {"path": <logical name>, "dtab": <router dtab>}}`, or `{"error": <reason>}`
 * for a router that cannot identify it; empty fields are left out, as Linkerd writes them.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { lingerBeforeClose } from './client-errors.js';
import type { IdentifyRequest, Identifier } from '../router/identifiers/identifier.js';

export interface IdentifiedRouter {
  readonly label: string;
  readonly identifier: Identifier;
  /** The router's dtab as text. */
  readonly dtab: string;
}

/** A node:http request as identifiers read it. */
class MessageView implements IdentifyRequest {
  constructor(private readonly m: IncomingMessage) {}
  get method(): string {
    return this.m.method ?? 'GET';
  }
  get url(): string {
    return this.m.url ?? '/';
  }
  get httpVersion(): string {
    return this.m.httpVersion;
  }
  get originForm(): boolean {
    return this.url.startsWith('/');
  }
  header(name: string): string | undefined {
    const v = this.m.headers[name.toLowerCase()];
    return Array.isArray(v) ? v.join(',') : v;
  }
}

/** Each router's answer for one request. */
export function identifyAll(routers: readonly IdentifiedRouter[], req: IdentifyRequest): Record<string, { path?: string; dtab?: string; error?: string }> {
  const out: Record<string, { path?: string; dtab?: string; error?: string }> = {};
  for (const r of routers) {
    try {
      const id = r.identifier.identify(req);
      if (id.type === 'identified') out[r.label] = { path: id.dst.show(), ...(r.dtab !== '' ? { dtab: r.dtab } : {}) };
      else out[r.label] = { error: id.reason };
    } catch (e) {
      out[r.label] = { error: e instanceof Error ? e.message : String(e) };
    }
  }
  return out;
}

export class IdentifierServer {
  private readonly server: Server;

  constructor(routers: readonly IdentifiedRouter[]) {
    this.server = createServer((req, res) => {
      const body = JSON.stringify(identifyAll(routers, new MessageView(req)));
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
      req.resume();
    });
    lingerBeforeClose(this.server);
  }

  listen(port: number, ip: string): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, ip, () => {
        this.server.off('error', reject);
        resolve(this.server.address() as AddressInfo);
      });
    });
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
