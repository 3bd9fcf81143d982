/**
 * The router's `httpAccessLog`: one line per request, Linkerd's common-log-style line with the
 * logical name and client appended:
 *
 *   <host> <remote> - - [dd/MM/yyyy:HH:mm:ss +0000] "<METHOD> <uri> HTTP/<v>" <status> <bytes|-> "<referer>" "<user-agent>" <logical name|-> <client|->
 *
 * Router keys (Linkerd's): `httpAccessLog` (path; absent = no log), `httpAccessLogRollPolicy`
 * (`never` default, `hourly`, `daily`, `weekly(n)` with n the day 0=Sunday..6, or a size such as
 * `3.megabytes`, `100.kilobytes`, `1.gigabyte`), `httpAccessLogAppend` (true: append; false:
 * truncate on open), `httpAccessLogRotateCount` (rotated files kept, -1 all). A rolled file is
 * renamed `<path>.<yyyyMMdd-HHmmss>`. Times are UTC.
 */
import { createWriteStream, openSync, readdirSync, renameSync, statSync, unlinkSync, type WriteStream } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { Fields } from '../config/schema.js';
import { TelemetryError } from './errors.js';

export interface AccessLogConfig {
  readonly httpAccessLog?: string;
  readonly httpAccessLogRollPolicy?: string;
  readonly httpAccessLogAppend?: boolean;
  readonly httpAccessLogRotateCount?: number;
}

/** Router-level keys, for src/config's router schema. */
export const accessLogFields: Fields = {
  httpAccessLog: { type: 'string', doc: 'Access log path; no access log when absent' },
  httpAccessLogRollPolicy: { type: 'string', default: 'never', doc: 'never, hourly, daily, weekly(n), or a size like 3.megabytes' },
  httpAccessLogAppend: { type: 'boolean', default: true },
  httpAccessLogRotateCount: { type: 'int', default: -1, min: -1 },
};

export type RollPolicy =
  | { readonly type: 'never' }
  | { readonly type: 'hourly' }
  | { readonly type: 'daily' }
  | { readonly type: 'weekly'; readonly day: number }
  | { readonly type: 'size'; readonly bytes: number };

const UNITS: Record<string, number> = {
  byte: 1, bytes: 1,
  kilobyte: 1024, kilobytes: 1024,
  megabyte: 1024 ** 2, megabytes: 1024 ** 2,
  gigabyte: 1024 ** 3, gigabytes: 1024 ** 3,
  terabyte: 1024 ** 4, terabytes: 1024 ** 4,
};

export function parseRollPolicy(s: string): RollPolicy {
  const v = s.trim().toLowerCase();
  if (v === 'never') return { type: 'never' };
  if (v === 'hourly') return { type: 'hourly' };
  if (v === 'daily') return { type: 'daily' };
  const w = /^weekly\((\d)\)$/.exec(v);
  if (w !== null && Number(w[1]) <= 6) return { type: 'weekly', day: Number(w[1]) };
  const m = /^(\d+(?:\.\d+)?)\.([a-z]+)$/.exec(v);
  if (m !== null && UNITS[m[2]!] !== undefined) return { type: 'size', bytes: Math.floor(Number(m[1]) * UNITS[m[2]!]!) };
  throw new TelemetryError(
    'MESH_ERR_ACCESS_LOG_CONFIG',
    `httpAccessLogRollPolicy: '${s}' is not one of never, hourly, daily, weekly(0..6), <n>.<bytes|kilobytes|megabytes|gigabytes>`,
    { key: 'httpAccessLogRollPolicy', found: s },
  );
}

/** The next instant (epoch ms, UTC) at which a time policy rolls, after `now`. */
export function nextRollAt(p: RollPolicy, now: number): number {
  const d = new Date(now);
  switch (p.type) {
    case 'hourly':
      return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate(), d.getUTCHours() + 1);
    case 'daily':
      return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate() + 1);
    case 'weekly': {
      const ahead = (p.day - d.getUTCDay() + 7) % 7 || 7;
      return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate() + ahead);
    }
    default:
      return Infinity;
  }
}

const p2 = (n: number): string => (n < 10 ? '0' + n : String(n));

export function formatLogTime(ms: number): string {
  const d = new Date(ms);
  return `${p2(d.getUTCDate())}/${p2(d.getUTCMonth() + 1)}/${d.getUTCFullYear()}:${p2(d.getUTCHours())}:${p2(d.getUTCMinutes())}:${p2(d.getUTCSeconds())} +0000`;
}

function stamp(ms: number): string {
  const d = new Date(ms);
  return `${d.getUTCFullYear()}${p2(d.getUTCMonth() + 1)}${p2(d.getUTCDate())}-${p2(d.getUTCHours())}${p2(d.getUTCMinutes())}${p2(d.getUTCSeconds())}`;
}

export interface AccessLogEntry {
  readonly host: string | undefined;
  readonly remote: string | undefined;
  readonly method: string;
  readonly uri: string;
  readonly httpVersion: string;
  readonly status: number;
  readonly responseBytes: number | undefined;
  readonly referer: string | undefined;
  readonly userAgent: string | undefined;
  readonly logicalName: string | undefined;
  readonly client: string | undefined;
  /** Epoch ms of the response; defaults to now. */
  readonly time?: number;
}

export function formatAccessLine(e: AccessLogEntry): string {
  return (
    `${e.host || '-'} ${e.remote || '-'} - - [${formatLogTime(e.time ?? Date.now())}] ` +
    `"${e.method} ${e.uri} HTTP/${e.httpVersion}" ${e.status} ${e.responseBytes ?? '-'} ` +
    `"${e.referer || '-'}" "${e.userAgent || '-'}" ${e.logicalName || '-'} ${e.client || '-'}`
  );
}

export class AccessLogWriter {
  private stream: WriteStream;
  private bytes = 0;
  private rollAt: number;
  private readonly policy: RollPolicy;
  private readonly rotateCount: number;
  private readonly now: () => number;

  constructor(
    readonly path: string,
    opts: { rollPolicy?: string; append?: boolean; rotateCount?: number; now?: () => number } = {},
  ) {
    this.policy = parseRollPolicy(opts.rollPolicy ?? 'never');
    this.rotateCount = opts.rotateCount ?? -1;
    this.now = opts.now ?? Date.now;
    const append = opts.append ?? true;
    if (append) {
      try {
        this.bytes = statSync(path).size;
      } catch {
        this.bytes = 0;
      }
    }
    this.stream = openStream(path, append ? 'a' : 'w');
    this.rollAt = nextRollAt(this.policy, this.now());
  }

  /**
   * The writer a router's config asks for, or null without `<protocol>AccessLog`. `protocol`
   * picks the key family: `http` (httpAccessLog…) or `h2` (h2AccessLog…).
   */
  static fromRouterConfig(cfg: AccessLogConfig | Readonly<Record<string, unknown>>, now?: () => number, protocol: 'http' | 'h2' = 'http', where = ''): AccessLogWriter | null {
    const c = cfg as Readonly<Record<string, unknown>>;
    const key = `${protocol}AccessLog`;
    const path = c[key];
    if (typeof path !== 'string' || path === '') return null;
    const roll = c[`${protocol}AccessLogRollPolicy`];
    const append = c[`${protocol}AccessLogAppend`];
    const rotate = c[`${protocol}AccessLogRotateCount`];
    try {
      return new AccessLogWriter(path, {
        ...(typeof roll === 'string' ? { rollPolicy: roll } : {}),
        ...(typeof append === 'boolean' ? { append } : {}),
        ...(typeof rotate === 'number' ? { rotateCount: rotate } : {}),
        ...(now !== undefined ? { now } : {}),
      });
    } catch (e) {
      if (e instanceof TelemetryError) throw new TelemetryError(e.code, `${where}${e.message.replace(/^httpAccessLog/, `${protocol}AccessLog`)}`, e.details);
      // The file cannot be opened: named by its key, as a config problem is.
      const code = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
      const why = code === 'ENOENT' ? 'ENOENT: its directory does not exist' : code === 'EACCES' ? 'EACCES: permission denied' : code;
      throw new TelemetryError('MESH_ERR_ACCESS_LOG_CONFIG', `${where}${key}: found ${JSON.stringify(path)}; allowed: a file that can be opened for writing (${why})`, { key: `${where}${key}`, found: path });
    }
  }

  log(e: AccessLogEntry): void {
    this.write(formatAccessLine(e) + '\n');
  }

  write(line: string): void {
    const t = this.now();
    if (t >= this.rollAt || (this.policy.type === 'size' && this.bytes > 0 && this.bytes + line.length > this.policy.bytes)) {
      this.roll(t);
    }
    this.bytes += Buffer.byteLength(line);
    this.stream.write(line);
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.stream.end(() => resolve()));
  }

  private roll(t: number): void {
    const old = this.stream;
    let target = `${this.path}.${stamp(t)}`;
    for (let i = 1; exists(target) && i < 1000; i++) target = `${this.path}.${stamp(t)}.${i}`;
    try {
      renameSync(this.path, target); // buffered writes of `old` follow the open fd into `target`
    } catch {
      // nothing to roll (file removed under us): start a fresh file anyway
    }
    old.end();
    this.stream = openStream(this.path, 'w');
    this.bytes = 0;
    this.rollAt = nextRollAt(this.policy, t);
    if (this.rotateCount >= 0) this.prune();
  }

  private prune(): void {
    const dir = dirname(this.path);
    const base = basename(this.path) + '.';
    const rolled = readdirSync(dir)
      .filter((f) => f.startsWith(base))
      .sort();
    for (const f of rolled.slice(0, Math.max(0, rolled.length - this.rotateCount))) {
      try {
        unlinkSync(join(dir, f));
      } catch {
        // already gone
      }
    }
  }
}

/** Opened synchronously so a later rename always follows the descriptor this stream writes to. */
function openStream(path: string, flags: 'a' | 'w'): WriteStream {
  const s = createWriteStream(path, { fd: openSync(path, flags) });
  s.on('error', () => {}); // a full disk must not crash the proxy
  return s;
}

function exists(p: string): boolean {
  try {
    statSync(p);
    return true;
  } catch {
    return false;
  }
}
