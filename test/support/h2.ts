/** In-test HTTP/2 pieces on loopback: a node:http2 upstream, and an in-process h2 router in front of one. */
import * as http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { Path } from '../../src/naming/path.js';
import type { ActivityState, BoundName } from '../../src/naming/contracts.js';
import type { NameTree } from '../../src/naming/name-tree.js';
import { MetricsRegistry } from '../../src/telemetry/metrics-registry.js';
import { H2Router } from '../../src/router/h2/router.js';
import { H2RouterServer, h2ServerOptions } from '../../src/router/h2/server.js';
import type { Identifier } from '../../src/router/identifiers/identifier.js';
import { TestVar, TextDtab, activity, boundLeaf, inetAddr, okTree, parseTextDtab } from '../router/support.js';

export interface H2UpstreamOptions {
  /** Called for each session the upstream accepts, after its bookkeeping listeners. */
  readonly onSession?: (s: http2.ServerHttp2Session) => void;
}

export interface StartedH2Upstream {
  readonly port: number;
  readonly server: http2.Http2Server;
  /** Destroys the open sessions and closes the server. */
  close(): Promise<void>;
}

/**
 * Listens on 127.0.0.1 (an ephemeral port) and hands each request stream to `onStream`;
 * session and stream errors are swallowed, the open sessions are tracked for `close()`.
 */
export async function startH2Upstream(
  onStream: (s: http2.ServerHttp2Stream, h: http2.IncomingHttpHeaders) => void,
  options: H2UpstreamOptions = {},
): Promise<StartedH2Upstream> {
  const server = http2.createServer();
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on('session', (s) => {
    sessions.add(s);
    s.on('close', () => sessions.delete(s));
    s.on('error', () => {});
    options.onSession?.(s);
  });
  server.on('stream', (s, h) => {
    s.on('error', () => {});
    onStream(s, h);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    server,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sessions) s.destroy();
        server.close(() => r());
      }),
  };
}

/** A plain-text HTTP/2 session to 127.0.0.1:`port`, once connected. */
export function connectH2(port: number): Promise<http2.ClientHttp2Session> {
  return new Promise((resolve, reject) => {
    const s = http2.connect(`http://127.0.0.1:${port}`);
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  });
}

/** The name every request of `startH2Router` is identified as. */
export const H2_DST = Path.of('svc', 'up');
const identifier: Identifier = { kind: 'test', identify: () => ({ type: 'identified', dst: H2_DST }) };

export interface StartedH2Router {
  readonly port: number;
  readonly server: H2RouterServer;
  /** The bound tree of H2_DST (set it to pending to hold binding). */
  readonly tree: TestVar<ActivityState<NameTree<BoundName>>>;
  readonly metrics: MetricsRegistry;
  close(): Promise<void>;
}

/**
 * An in-process h2 router (label `h2`, naming faked) listening on 127.0.0.1, sending every
 * request to the upstream on `upPort`; `routerConfig` and `serverConfig` are merged in.
 */
export async function startH2Router(upPort: number, routerConfig: Record<string, unknown>, serverConfig: Record<string, unknown> = {}): Promise<StartedH2Router> {
  const metrics = new MetricsRegistry();
  const tree = okTree(boundLeaf('/#/io.l5d.fs/up', inetAddr(upPort)));
  const r = new H2Router<TextDtab>({
    label: 'h2',
    baseDtab: new TextDtab(''),
    identifier,
    parseDtab: parseTextDtab,
    bind: () => activity(tree),
    metrics,
    config: { label: 'h2', ...routerConfig },
  });
  const server = new H2RouterServer(r as unknown as H2Router, h2ServerOptions({ ip: '127.0.0.1', port: 0, ...serverConfig }, undefined), metrics);
  const { port } = await server.listen();
  return {
    port,
    server,
    tree,
    metrics,
    close: async () => {
      await server.close(0);
      r.close();
      metrics.close();
    },
  };
}
