/**
 * Options shared by `meshwork delegate` and `meshwork bind`: where the dtab and namers come
 * from (`--dtab`, `--config`, `--router`) and the path to explain or bind.
 */
import type { CommandIO } from '../command.js';
import { readDtab, readPath, type Dtab } from '../../naming/index.js';
import type { ConfiguredNamers } from '../../naming/namer-ops.js';
import type { Path } from '../../naming/path.js';
import { BUILTIN_ONLY } from '../../namers/registry.js';
import { namingFromLinkerdConfig } from '../linkerd-naming.js';

export interface NamingArgs {
  readonly dtab: Dtab;
  readonly path: Path;
  readonly namers: ConfiguredNamers;
  readonly flags: ReadonlySet<string>;
  readonly timeoutMs: number;
}

const VALUE_OPTIONS = new Set(['--dtab', '--config', '--router', '--timeout']);

/** Parses argv; on bad input writes the message to stderr and returns the exit code. */
export async function parseNamingArgs(args: string[], io: CommandIO, booleanFlags: readonly string[], usage: string): Promise<NamingArgs | number> {
  const values = new Map<string, string>();
  const flags = new Set<string>();
  const positional: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const eq = a.indexOf('=');
    const name = a.startsWith('--') && eq > 0 ? a.slice(0, eq) : a;
    if (VALUE_OPTIONS.has(name)) {
      const v = eq > 0 && a.startsWith('--') ? a.slice(eq + 1) : args[++i];
      if (v === undefined) {
        io.stderr(`${name} needs a value\n${usage}`);
        return 2;
      }
      values.set(name, v);
    } else if (booleanFlags.includes(a)) {
      flags.add(a);
    } else if (a.startsWith('--') && a.length > 2) {
      io.stderr(`unknown option ${a}\n${usage}`);
      return 2;
    } else {
      positional.push(a);
    }
  }
  if (positional.length !== 1) {
    io.stderr(`expected exactly one PATH\n${usage}`);
    return 2;
  }
  const timeoutText = values.get('--timeout') ?? '5000';
  const timeoutMs = Number(timeoutText);
  if (!Number.isInteger(timeoutMs) || timeoutMs <= 0) {
    io.stderr(`--timeout: expected milliseconds, found ${timeoutText}\n`);
    return 2;
  }
  if (values.has('--router') && !values.has('--config')) {
    io.stderr(`--router needs --config\n${usage}`);
    return 2;
  }

  let path: Path;
  try {
    path = readPath(positional[0]!);
  } catch (e) {
    io.stderr(`Invalid path: ${(e as Error).message}\n`);
    return 2;
  }

  let namers = BUILTIN_ONLY;
  let base = '';
  const configFile = values.get('--config');
  if (configFile !== undefined) {
    try {
      const setup = await namingFromLinkerdConfig(configFile, values.get('--router'), readPath, timeoutMs);
      namers = setup.namers;
      base = setup.dtab;
    } catch (e) {
      io.stderr(`${(e as Error).message}\n`);
      return 2;
    }
  }
  let dtab: Dtab;
  try {
    // The router's dtab, then the request dtab (later entries win), as Linkerd appends them.
    dtab = readDtab(base).concat(readDtab(values.get('--dtab') ?? ''));
  } catch (e) {
    io.stderr(`Invalid dtab: ${(e as Error).message}\n`);
    return 2;
  }
  return { dtab, path, namers, flags, timeoutMs };
}
