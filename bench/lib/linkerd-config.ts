import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * `bin/meshwork.js`, run as its users run it: through its `#!` line (which carries the
 * launcher's V8 flags), with this node first on PATH so the measured node is the one running
 * the bench.
 */
export const LAUNCHER = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'bin', 'meshwork.js'); // from dist/bench/lib
export const launcherEnv: NodeJS.ProcessEnv = { ...process.env, PATH: `${dirname(process.execPath)}${delimiter}${process.env['PATH'] ?? ''}` };

/**
 * The `linkerd.yaml` the bench runs (`npm run bench` and `npm run bench:profile` alike): one
 * HTTP router, `io.l5d.header.token` on Host, `/svc => /$/inet/127.1/<upstream>`, p2c. With
 * `zipkinPort`, the telemeters a production linker typically runs are added (Prometheus scrape
 * endpoint, recent requests at 0.01 and Zipkin at 0.001, Linkerd's default sample rates).
 */
export interface BenchLinkerdOptions {
  port: number;
  adminPort: number;
  upstreamPort: number;
  /** Turns the telemeters on, sending Zipkin spans (UDP) to this port. */
  zipkinPort?: number;
  /**
   * A `protocol: tcp` router instead (the tcp rows): each client connection is spliced to an
   * upstream connection of its own, and HTTP keep-alive requests pass through as bytes.
   */
  tcp?: boolean;
}

export function benchLinkerdYaml(o: BenchLinkerdOptions): string {
  const tele = o.zipkinPort !== undefined
    ? `telemetry:
- kind: io.l5d.prometheus
- kind: io.l5d.recentRequests
  sampleRate: 0.01
- kind: io.l5d.zipkin
  host: 127.0.0.1
  port: ${o.zipkinPort}
  sampleRate: 0.001
`
    : '';
  return `${tele}admin:
  ip: 127.0.0.1
  port: ${o.adminPort}
routers:
${o.tcp === true ? `- protocol: tcp
  label: bench-tcp` : `- protocol: http
  label: bench
  identifier:
    kind: io.l5d.header.token
    header: Host`}
  dtab: /svc => /$/inet/127.1/${o.upstreamPort};
  client:
    loadBalancer:
      kind: p2c
  servers:
  - ip: 127.0.0.1
    port: ${o.port}
`;
}
