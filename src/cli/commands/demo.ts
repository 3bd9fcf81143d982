/**
 * `meshwork demo` (`npm start`): a small mesh in one process — two routers in Linkerd's
 * linker-to-linker pattern (outgoing 4140 → incoming 4141 through the `io.l5d.port`
 * transformer), an io.l5d.fs namer over a copy of demo/disco, and two services: hello calls
 * world through the mesh. `MESHWORK_DEMO_PORTS=0` puts the routers on free ports (smoke tests).
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from '../command.js';
import '../../config/builtin-plugins.js';
import { parseLinkerdConfig } from '../../config/load.js';
import { MetricsRegistry } from '../../telemetry/metrics-registry.js';
import { Linker } from '../../router/linker.js';
import { namingDeps } from '../../router/naming-deps.js';

const DEMO_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..', 'demo');

function listen(handler: http.RequestListener): Promise<http.Server> {
  const s = http.createServer(handler);
  return new Promise((r) => s.listen(0, '127.0.0.1', () => r(s)));
}

function portOf(s: http.Server): number {
  return (s.address() as AddressInfo).port;
}

export const command: Command = {
  name: 'demo',
  summary: 'run a small two-router mesh with sample services (npm start)',
  usage: 'usage: meshwork demo\n\nStarts hello and world services behind an outgoing (4140) and an incoming (4141) router.\nMESHWORK_DEMO_PORTS=0 uses free ports instead.\n',
  async run(_args, io) {
    const fixed = process.env['MESHWORK_DEMO_PORTS'] !== '0';
    const disco = mkdtempSync(join(tmpdir(), 'meshwork-demo-'));
    let outgoingPort = fixed ? 4140 : 0;
    const world = await listen((req, res) => res.end('world'));
    const hello = await listen((req, res) => {
      // hello calls world through the outgoing router, as an app with http_proxy would.
      const call = http.get({ host: '127.0.0.1', port: outgoingPort, path: '/', headers: { host: 'world' } }, (w) => {
        let body = '';
        w.on('data', (c: Buffer) => (body += c.toString()));
        w.on('end', () => res.end(`Hello (${req.headers['l5d-dst-service'] ?? 'direct'}) ${body}!\n`));
      });
      call.on('error', (e) => {
        res.statusCode = 502;
        res.end(`hello could not reach world: ${e.message}\n`);
      });
    });
    const vars: Record<string, string> = { HELLO_PORT: String(portOf(hello)), WORLD_PORT: String(portOf(world)) };
    for (const f of readdirSync(join(DEMO_DIR, 'disco'))) {
      const text = readFileSync(join(DEMO_DIR, 'disco', f), 'utf8').replace(/\$\{(\w+)\}/g, (m, k: string) => vars[k] ?? m);
      writeFileSync(join(disco, f), text);
    }
    const metrics = new MetricsRegistry().start();
    const incoming = new Linker(
      parseLinkerdConfig(
        `namers:\n- kind: io.l5d.fs\n  rootDir: ${disco}\nrouters:\n- protocol: http\n  label: incoming\n  dtab: /svc => /#/io.l5d.fs\n  servers:\n  - port: ${fixed ? 4141 : 0}\n`,
        'demo-incoming.yaml',
      ),
      namingDeps(),
      metrics,
    );
    const inBound = await incoming.start();
    const outgoing = new Linker(
      parseLinkerdConfig(
        `namers:\n- kind: io.l5d.fs\n  rootDir: ${disco}\nrouters:\n- protocol: http\n  label: outgoing\n  dtab: /svc => /#/io.l5d.fs\n  interpreter:\n    kind: default\n    transformers:\n    - kind: io.l5d.port\n      port: ${inBound[0]!.port}\n  servers:\n  - port: ${outgoingPort}\n`,
        'demo-outgoing.yaml',
      ),
      namingDeps(),
      metrics,
    );
    const outBound = await outgoing.start();
    outgoingPort = outBound[0]!.port;
    io.stdout(`listening outgoing 127.0.0.1:${outgoingPort}\nlistening incoming 127.0.0.1:${inBound[0]!.port}\n`);
    io.stdout(`\nMeshwork demo is up. Try:\n\n  curl -H 'Host: hello' http://127.0.0.1:${outgoingPort}/\n\nhello calls world through the mesh (outgoing ${outgoingPort} -> incoming ${inBound[0]!.port}). Ctrl-C stops.\n`);
    return new Promise<number>((resolve) => {
      const stop = (): void => {
        void Promise.all([outgoing.close(1000), incoming.close(1000)]).then(() => {
          hello.close();
          world.close();
          hello.closeAllConnections();
          world.closeAllConnections();
          rmSync(disco, { recursive: true, force: true });
          resolve(0);
        });
      };
      process.once('SIGTERM', stop);
      process.once('SIGINT', stop);
    });
  },
};
