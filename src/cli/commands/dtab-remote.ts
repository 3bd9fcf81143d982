import { readFileSync } from 'node:fs';
import type { CommandIO } from '../command.js';

/**
 * `meshwork dtab list|get|create|update|delete|apply` against namerd's HTTP API
 * (io.l5d.httpController). Exit codes: 0 ok, 1 the server refused (404, 409, 412, 5xx) or
 * is unreachable, 2 bad usage or a dtab the server rejected (400, its message printed).
 */

const DEFAULT_BASE = 'http://127.0.0.1:4180';

export const usage = `usage: meshwork dtab <subcommand> [--base-url URL] ...

  list                            namespaces stored in namerd
  get NS                          the dtab of NS (version printed on stderr)
  create NS FILE|-                create NS (fails if it exists)
  update NS FILE|- [--version V]  replace NS; with --version (an ETag from get) only if unchanged
  delete NS                       delete NS
  apply NS FILE|-                 create NS or replace it

  --base-url URL   namerd's HTTP controller (default: $NAMERCTL_BASE_URL, else ${DEFAULT_BASE});
  --namerd URL     the same (the name \`meshwork check\` uses)
`;

interface Parsed {
  base: string;
  version?: string;
  positional: string[];
}

/** namerctl's flag, the name `meshwork check` uses, and namerctl's environment variable. */
const BASE_FLAGS = ['--base-url', '--namerd'];
const BASE_ENV = 'NAMERCTL_BASE_URL';

function parse(args: string[], env: NodeJS.ProcessEnv): Parsed | string {
  const fromEnv = env[BASE_ENV];
  const out: Parsed = { base: (fromEnv !== undefined && fromEnv !== '' ? fromEnv : DEFAULT_BASE).replace(/\/+$/, ''), positional: [] };
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const eq = a.indexOf('=');
    const name = a.startsWith('--') && eq > 0 ? a.slice(0, eq) : a;
    if (BASE_FLAGS.includes(name) || name === '--version') {
      const v = name !== a ? a.slice(eq + 1) : args[++i];
      if (v === undefined) return `option '${a}' needs a value`;
      if (name === '--version') out.version = v;
      else out.base = v.replace(/\/+$/, '');
    } else if (a.startsWith('--') && a !== '-') return `unknown option '${a}'`;
    else out.positional.push(a);
  }
  return out;
}

const ARITY: Record<string, number> = { list: 0, get: 1, create: 2, update: 2, delete: 1, apply: 2 };

function readInput(file: string): string {
  return readFileSync(file === '-' ? 0 : file, 'utf8');
}

export async function run(sub: string, args: string[], io: CommandIO, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  if (args.includes('--help') || args.includes('-h')) {
    io.stdout(usage);
    return 0;
  }
  const p = parse(args, env);
  if (typeof p === 'string') {
    io.stderr(`meshwork dtab ${sub}: ${p}\n${usage}`);
    return 2;
  }
  const want = ARITY[sub];
  if (want === undefined || p.positional.length !== want) {
    io.stderr(`meshwork dtab ${sub}: ${want} argument(s) expected, found ${p.positional.length}\n${usage}`);
    return 2;
  }
  if (p.version !== undefined && sub !== 'update') {
    io.stderr(`meshwork dtab ${sub}: --version applies only to update\n`);
    return 2;
  }
  const [ns, file] = p.positional;
  const url = sub === 'list' ? `${p.base}/api/1/dtabs` : `${p.base}/api/1/dtabs/${encodeURIComponent(ns!)}`;
  let body: string | undefined;
  if (file !== undefined) {
    try {
      body = readInput(file);
    } catch (e) {
      io.stderr(`meshwork dtab ${sub}: cannot read ${file}: ${(e as Error).message}\n`);
      return 2;
    }
  }
  const method = { list: 'GET', get: 'GET', create: 'POST', update: 'PUT', apply: 'PUT', delete: 'DELETE' }[sub]!;
  const headers: Record<string, string> = {};
  if (sub === 'get') headers.accept = 'application/dtab';
  if (body !== undefined) headers['content-type'] = 'application/dtab';
  if (p.version !== undefined) headers['if-match'] = p.version;
  let status: number;
  let text: string;
  let etag: string | null;
  try {
    // update without --version must still fail on a missing namespace, as namerctl does.
    if (sub === 'update' && p.version === undefined) {
      const head = await fetch(url, { method: 'HEAD' });
      if (head.status === 404) {
        io.stderr(`meshwork dtab update: namespace '${ns}' does not exist (use create or apply)\n`);
        return 1;
      }
    }
    const rsp = await fetch(url, { method, headers, body, signal: AbortSignal.timeout(10_000) });
    status = rsp.status;
    etag = rsp.headers.get('etag');
    text = await rsp.text();
  } catch (e) {
    const cause = (e as { cause?: { message?: string } }).cause?.message;
    io.stderr(`meshwork dtab ${sub}: cannot reach namerd at ${p.base}: ${cause ?? (e as Error).message}\n`);
    return 1;
  }
  if (status >= 200 && status < 300) {
    if (sub === 'list') {
      const names = JSON.parse(text) as string[];
      io.stdout(names.map((n) => n + '\n').join(''));
    } else if (sub === 'get') {
      io.stdout(text.endsWith('\n') ? text : text + '\n');
      if (etag !== null) io.stderr(`version: ${etag}\n`);
    } else {
      io.stdout(`${sub === 'delete' ? 'deleted' : sub === 'create' ? 'created' : 'updated'} ${ns}\n`);
    }
    return 0;
  }
  const msg = text.trim();
  if (status === 412) {
    io.stderr(`meshwork dtab update: version ${p.version} of '${ns}' is stale (someone else changed it); get it again and retry\n`);
    return 1;
  }
  if (status === 400) {
    io.stderr(`meshwork dtab ${sub}: ${msg}\n`);
    return 2;
  }
  io.stderr(`meshwork dtab ${sub}: namerd answered ${status}: ${msg}\n`);
  return 1;
}
