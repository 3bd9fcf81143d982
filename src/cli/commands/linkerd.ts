import type { Command, CommandIO } from '../command.js';
// Every kind the areas build, registered before any config is checked.
import '../../config/builtin-plugins.js';
import { loadLinkerdConfig, type LoadOptions } from '../../config/load.js';
import { ConfigError } from '../../config/errors.js';
import type { LinkerdConfig } from '../../config/types.js';

const usage = `usage: meshwork linkerd [--validate] FILE

Runs a Linkerd 1.x linkerd.yaml (YAML or JSON; FILE '-' reads stdin).

  --validate   load and check FILE without opening any port; exit 0 when it is valid,
               2 with every error (file, key path, found and allowed values) when not
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

/** `meshwork linkerd --validate FILE`: load and check, open nothing. */
export async function validate(file: string, io: CommandIO, opts: LoadOptions = {}): Promise<number> {
  try {
    io.stdout(describeLinkerd(await loadLinkerdConfig(file, opts)));
    return 0;
  } catch (e) {
    return reportConfigError(e, io);
  }
}

/** Splits `[--validate] FILE`; returns an error message for bad usage. */
export function parseArgs(args: string[]): { validate: boolean; file: string } | string {
  let validateOnly = false;
  const files: string[] = [];
  for (const a of args) {
    if (a === '--validate') validateOnly = true;
    else if (a.startsWith('--')) return `unknown option '${a}'`;
    else files.push(a);
  }
  if (files.length !== 1) return files.length === 0 ? 'a config FILE is required' : `one config FILE expected, found ${files.length}`;
  return { validate: validateOnly, file: files[0]! };
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
    return (await import('../../router/run.js')).runLinkerd(parsed.file, io);
  },
};
