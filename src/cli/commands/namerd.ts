import type { Command, CommandIO } from '../command.js';
// Every kind the areas build, registered before any config is checked.
import '../../config/builtin-plugins.js';
import { loadNamerdConfig, type LoadOptions } from '../../config/load.js';
import type { NamerdConfig } from '../../config/types.js';
import { parseArgs, reportConfigError, reportTlsFileProblems } from './linkerd.js';
import { compactAfterStart } from '../heap.js';

const usage = `usage: meshwork namerd [--validate] FILE

Runs a namerd.yaml control plane (YAML or JSON; FILE '-' reads stdin).

  --validate   load and check FILE without opening any port; exit 0 when it is valid,
               2 with every error (file, key path, found and allowed values) when not
`;

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

export function describeNamerd(c: NamerdConfig): string {
  const ifaces = c.interfaces.map((i) => i.kind).join(', ');
  return `${c.file === '-' ? '<stdin>' : c.file}: valid: storage ${c.storage.kind}, ${plural(c.interfaces.length, 'interface')} (${ifaces}), ${plural(c.namers.length, 'namer')}\n`;
}

/** `meshwork namerd --validate FILE`: load and check, open nothing. */
export async function validate(file: string, io: CommandIO, opts: LoadOptions = {}): Promise<number> {
  try {
    const config = await loadNamerdConfig(file, opts);
    if (reportTlsFileProblems(config, io)) return 2;
    io.stdout(describeNamerd(config));
    return 0;
  } catch (e) {
    return reportConfigError(e, io);
  }
}

/** Runs namerd until SIGTERM/SIGINT; prints `namerd <kind> listening on <ip>:<port>` per listener. */
async function serve(file: string, io: CommandIO): Promise<number> {
  let config: NamerdConfig;
  try {
    config = await loadNamerdConfig(file);
  } catch (e) {
    return reportConfigError(e, io);
  }
  const { startNamerd } = await import('../../namerd/namerd.js');
  let running;
  try {
    running = await startNamerd(config);
  } catch (e) {
    const err = e as { code?: string; message?: string };
    io.stderr(`meshwork namerd: ${err.message ?? String(e)}\n`);
    return err.code === 'MESH_ERR_NAMESPACE_INVALID' || err.code === 'MESH_ERR_ADMIN_TLS' || (err.code ?? '').startsWith('MESH_ERR_CONFIG') ? 2 : 1;
  }
  // Signals are handled before the listening lines go out, so a stop right after them is graceful.
  const signalled = new Promise<void>((resolve) => {
    const stop = (): void => {
      process.off('SIGTERM', stop);
      process.off('SIGINT', stop);
      resolve();
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  });
  for (const l of running.listeners) io.stdout(`namerd ${l.kind} listening on ${l.ip}:${l.port}\n`);
  compactAfterStart();
  await signalled;
  await running.close();
  return 0;
}

export const command: Command = {
  name: 'namerd',
  summary: 'run (or --validate) a namerd.yaml control plane',
  usage,
  async run(args, io) {
    const parsed = parseArgs(args);
    if (typeof parsed === 'string') {
      io.stderr(`meshwork namerd: ${parsed}\n${usage}`);
      return 2;
    }
    if (parsed.validate) return validate(parsed.file, io);
    return serve(parsed.file, io);
  },
};
