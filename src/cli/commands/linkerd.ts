import type { Command, CommandIO } from '../command.js';
// Every kind the areas build, registered before any config is checked.
import '../../config/builtin-plugins.js';
import { loadLinkerdConfig, type LoadOptions } from '../../config/load.js';
import { ConfigError } from '../../config/errors.js';
import type { LinkerdConfig } from '../../config/types.js';
import { tlsFileProblems } from '../../config/tls.js';
import { linkerdWarnings } from '../../router/config-warnings.js';

const usage = `usage: meshwork linkerd [--validate] [--workers N] FILE

Runs a Linkerd 1.x linkerd.yaml (YAML or JSON; FILE '-' reads stdin).

  --validate   load and check FILE without opening any port (TLS certificate and key
               files must be readable); exit 0 when it is valid, 2 with every error
               (file, key path, found and allowed values) when not
  --workers N  run N linker processes sharing every listen socket (node:cluster), so the
               data plane uses N cores; each worker keeps its own metrics and admin state
               (the admin port is shared too: a request reaches one worker)
`;

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** One line describing a valid config, e.g. `linkerd.yaml: valid: 1 router (http 'web'), ...`. */
export function describeLinkerd(c: LinkerdConfig): string {
  const routers = c.routers.map((r) => `${r.protocol} '${r.label}'`).join(', ');
  return `${c.file === '-' ? '<stdin>' : c.file}: valid: ${plural(c.routers.length, 'router')} (${routers}), ${plural(c.namers.length, 'namer')}, ${plural(c.telemetry.length, 'telemeter')}\n`;
}

/** Reports a load failure: every config error on its own line. Returns the exit code (2). */
export function reportConfigError(e: unknown, io: CommandIO): number {
  if (e instanceof ConfigError) {
    for (const issue of e.errors) io.stderr(issue.message + '\n');
    return 2;
  }
  throw e;
}

/**
 * `--validate` of linkerd and namerd: certificates and keys named by tls blocks must be
 * readable PEM files, as at start. Prints each problem; true when there was one.
 */
export function reportTlsFileProblems(config: object, io: CommandIO): boolean {
  const problems = tlsFileProblems(config as Parameters<typeof tlsFileProblems>[0]);
  for (const p of problems) io.stderr(p + '\n');
  return problems.length > 0;
}

/** `meshwork linkerd --validate FILE`: load and check, open nothing. */
export async function validate(file: string, io: CommandIO, opts: LoadOptions = {}): Promise<number> {
  try {
    const config = await loadLinkerdConfig(file, opts);
    if (reportTlsFileProblems(config, io)) return 2;
    io.stdout(describeLinkerd(config));
    for (const w of linkerdWarnings(config)) io.stderr(`${config.file === '-' ? '<stdin>' : config.file}: warning: ${w}\n`);
    return 0;
  } catch (e) {
    return reportConfigError(e, io);
  }
}

/** Splits `[--validate] [--workers N] FILE`; returns an error message for bad usage. */
export function parseArgs(args: string[]): { validate: boolean; file: string; workers: number } | string {
  let validateOnly = false;
  let workers = 1;
  const files: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--validate') validateOnly = true;
    else if (a === '--workers') {
      const v = args[++i];
      if (v === undefined || !/^[1-9]\d*$/.test(v) || Number(v) > 64) return `--workers takes a whole number from 1 to 64, found '${v ?? ''}'`;
      workers = Number(v);
    } else if (a.startsWith('--')) return `unknown option '${a}'`;
    else files.push(a);
  }
  if (files.length !== 1) return files.length === 0 ? 'a config FILE is required' : `one config FILE expected, found ${files.length}`;
  if (workers > 1 && files[0] === '-') return '--workers cannot read the config from stdin (every worker reads FILE)';
  return { validate: validateOnly, file: files[0]!, workers };
}

/**
 * `--workers N`: the primary checks the config, forks N workers that each run the linker on
 * the shared sockets (the first one prints the listening lines), and stops them on SIGTERM.
 */
async function runWithWorkers(file: string, n: number, io: CommandIO): Promise<number> {
  const cluster = (await import('node:cluster')).default;
  const { runLinkerd } = await import('../../router/run.js');
  if (cluster.isWorker) {
    // The first worker prints the listening lines; the primary alone says `stopped`.
    const first = cluster.worker!.id === 1;
    const quiet = { ...io, stdout: (s: string) => (first && s !== 'stopped\n' ? io.stdout(s) : undefined) };
    const code = await runLinkerd(file, quiet);
    process.exit(code);
  }
  try {
    await loadLinkerdConfig(file);
  } catch (e) {
    return reportConfigError(e, io);
  }
  const { runWorkers } = await import('../../protocol/http1/workers.js');
  let exitCode = 0;
  let stop: () => void = () => undefined;
  const stopped = new Promise<void>((resolve) => (stop = resolve));
  const workers = await runWorkers(n, async () => undefined, (code) => {
    io.stderr(`meshwork linkerd: a worker exited with code ${code}\n`);
    exitCode = code || 1;
    stop();
  });
  io.stdout(`linkerd primary ${process.pid}: ${n} workers\n`);
  process.once('SIGTERM', () => stop());
  process.once('SIGINT', () => stop());
  await stopped;
  await workers.stop();
  io.stdout('stopped\n');
  return exitCode;
}

export const command: Command = {
  name: 'linkerd',
  summary: 'run (or --validate) a Linkerd 1.x linkerd.yaml',
  usage,
  async run(args, io) {
    const parsed = parseArgs(args);
    if (typeof parsed === 'string') {
      io.stderr(`meshwork linkerd: ${parsed}\n${usage}`);
      return 2;
    }
    if (parsed.validate) return validate(parsed.file, io);
    if (parsed.workers > 1) return runWithWorkers(parsed.file, parsed.workers, io);
    return (await import('../../router/run.js')).runLinkerd(parsed.file, io);
  },
};
