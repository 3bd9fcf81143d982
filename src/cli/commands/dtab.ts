import { readFileSync } from 'node:fs';
import type { Command, CommandIO } from '../command.js';
import { readDtab, NamingParseError } from '../../naming/index.js';

/**
 * `meshwork dtab <sub>`: `fmt` works offline; the namerd subcommands (list, get, create,
 * update, delete, apply) live in dtab-remote.ts and are loaded only when used.
 */
type Sub = (args: string[], io: CommandIO) => Promise<number>;

const REMOTE = ['list', 'get', 'create', 'update', 'delete', 'apply'];

const usage = `usage: meshwork dtab <subcommand> ...

  fmt [--multiline] [FILE|-]   print the canonical form of a dtab (stdin when FILE is - or absent)
  list|get|create|update|delete|apply   read and write dtabs in namerd (see meshwork dtab <sub> --help)
`;

function readInput(file: string | undefined): string {
  return readFileSync(file === undefined || file === '-' ? 0 : file, 'utf8');
}

const fmt: Sub = async (args, io) => {
  let multiline = false;
  const files: string[] = [];
  for (const a of args) {
    if (a === '--multiline') multiline = true;
    else if (a.startsWith('--')) {
      io.stderr(`meshwork dtab fmt: unknown option '${a}'\n${usage}`);
      return 2;
    } else files.push(a);
  }
  if (files.length > 1) {
    io.stderr(`meshwork dtab fmt: one FILE expected, found ${files.length}\n`);
    return 2;
  }
  let text: string;
  try {
    text = readInput(files[0]);
  } catch (e) {
    io.stderr(`meshwork dtab fmt: cannot read ${files[0]}: ${(e as Error).message}\n`);
    return 2;
  }
  try {
    const dtab = readDtab(text);
    // One dentry per line still reads back as the same dtab (a trailing ';' is allowed).
    const out = multiline ? dtab.dentries.map((d) => d.show() + ';').join('\n') : dtab.show();
    io.stdout(out + '\n');
    return 0;
  } catch (e) {
    if (e instanceof NamingParseError) {
      io.stderr(`Invalid dtab: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
};

export const command: Command = {
  name: 'dtab',
  summary: 'format a dtab, or read and write dtabs in namerd',
  usage,
  subcommandHelp: true,
  async run(args, io) {
    const [sub, ...rest] = args;
    if (sub === 'fmt' && (rest.includes('--help') || rest.includes('-h'))) {
      io.stdout(usage);
      return 0;
    }
    if (sub === 'fmt') return fmt(rest, io);
    if (sub !== undefined && REMOTE.includes(sub)) {
      const remote = (await import('./dtab-remote.js' as string)) as { run(sub: string, args: string[], io: CommandIO): Promise<number> };
      return remote.run(sub, rest, io);
    }
    io.stderr(`meshwork dtab: ${sub === undefined ? 'a subcommand is required' : `unknown subcommand '${sub}'`}\n${usage}`);
    return 2;
  },
};
