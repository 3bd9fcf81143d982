/**
 * `meshwork linkerd FILE`: load the config, start every router, print one
 * `listening <label> <ip>:<port>` line per server (tests and scripts parse it), and drain on
 * SIGTERM / SIGINT within `admin.shutdownGraceMs`.
 */
import type { CommandIO } from '../cli/command.js';
import '../config/builtin-plugins.js';
import { loadLinkerdConfig } from '../config/load.js';
import { ConfigError } from '../config/errors.js';
import { MetricsRegistry } from '../telemetry/metrics-registry.js';
import { Linker } from './linker.js';
import { namingDeps } from './naming-deps.js';

export async function runLinkerd(file: string, io: CommandIO): Promise<number> {
  let linker: Linker<import('../naming/index.js').Dtab>;
  let config;
  try {
    config = await loadLinkerdConfig(file);
    linker = new Linker(config, namingDeps(), new MetricsRegistry().start());
  } catch (e) {
    if (e instanceof ConfigError) {
      for (const issue of e.errors) io.stderr(issue.message + '\n');
      return 2;
    }
    io.stderr(`meshwork linkerd: ${(e as Error).message}\n`);
    return 2;
  }
  let bound;
  try {
    bound = await linker.start();
  } catch (e) {
    io.stderr(`meshwork linkerd: cannot listen: ${(e as Error).message}\n`);
    return 1;
  }
  for (const b of bound) io.stdout(`listening ${b.label} ${b.ip}:${b.port}\n`);
  const grace = config.admin.shutdownGraceMs ?? 10_000;
  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (): void => {
      if (stopping) return;
      stopping = true;
      void linker.close(grace).then(() => {
        io.stdout('stopped\n');
        resolve(0);
      });
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
}
