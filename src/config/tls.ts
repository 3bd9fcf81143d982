/**
 * TLS blocks as Linkerd configures them, turned into node:tls options: a server `tls`
 * (`servers[].tls`: the certificate, and client certificates it requires with
 * `requireClientAuth`) and a client `tls` (a router's client block per prefix, with `{var}`
 * captures substituted into `commonName`; a namer's `tls`): how the peer's certificate is
 * validated, `commonName`, and `clientAuth` for mutual TLS.
 *
 * Certificate and key files are read at start (`TlsFiles.load*`), so a missing or unreadable
 * file stops the process with the file and key path named, never at a request's time. Each
 * area passes its own error type (routers: RouterError, namers: NamerError).
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { ConnectionOptions, PeerCertificate, SecureVersion, TlsOptions } from 'node:tls';

type Obj = Readonly<Record<string, unknown>>;

const requireBuiltin = createRequire(import.meta.url);

/** Linkerd's `protocols` names as Node's TLS versions, oldest first. */
const VERSIONS: readonly SecureVersion[] = ['TLSv1', 'TLSv1.1', 'TLSv1.2', 'TLSv1.3'];

/** Makes the area's config error from its message (`<file>: <key path>: found ...; allowed: ...`). */
export type TlsErrorFactory = (message: string) => Error;

function configError(make: TlsErrorFactory, file: string | undefined, keyPath: string, found: unknown, allowed: string): Error {
  return make(`${file ? `${file}: ` : ''}${keyPath}: found ${JSON.stringify(found) ?? 'undefined'}; allowed: ${allowed}`);
}

/** Files a router's TLS blocks name, read once at start. */
export class TlsFiles {
  private readonly files = new Map<string, Buffer>();

  constructor(
    private readonly configFile: string | undefined,
    private readonly makeError: TlsErrorFactory = (m) => new Error(m),
  ) {}

  /** Reads `path` (a config value at `keyPath`) now; throws a config error naming both. */
  load(path: unknown, keyPath: string): void {
    if (typeof path !== 'string' || path === '') throw configError(this.makeError, this.configFile, keyPath, path, 'the path of a PEM file');
    if (path.includes('{')) throw configError(this.makeError, this.configFile, keyPath, path, 'a file path (not supported yet: {variable} captures in TLS file paths)');
    if (this.files.has(path)) return;
    try {
      this.files.set(path, readFileSync(path));
    } catch (e) {
      throw configError(this.makeError, this.configFile, keyPath, path, `a readable PEM file (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    }
  }

  /** A file `load` read (callers only ask for those). */
  get(path: string): Buffer {
    const b = this.files.get(path);
    if (b === undefined) throw new Error(`TLS file ${path} was not loaded at start`);
    return b;
  }

  /**
   * A router server's TLS options from its `tls` block (undefined: none, or `enabled: false`),
   * its files read now so a missing one stops the linker naming `at`, the block's key path.
   */
  serverOptions(tls: Obj | null | undefined, at: string): TlsOptions | undefined {
    if (tls === undefined || tls === null || tls['enabled'] === false) return undefined;
    this.loadServer(tls, at);
    return serverTlsOptions(tls, this);
  }

  /** Reads every file of a server `tls` block (`at`: its key path). */
  loadServer(tls: Obj, at: string): void {
    this.load(tls['certPath'], `${at}.certPath`);
    this.load(tls['keyPath'], `${at}.keyPath`);
    if (tls['intermediateCertsPath'] !== undefined) this.load(tls['intermediateCertsPath'], `${at}.intermediateCertsPath`);
    if (tls['caCertPath'] !== undefined) this.load(tls['caCertPath'], `${at}.caCertPath`);
    versions(tls['protocols'], `${at}.protocols`, this.makeError, this.configFile);
    if (tls['requireClientAuth'] === true && tls['caCertPath'] === undefined) {
      throw configError(this.makeError, this.configFile, `${at}.caCertPath`, undefined, 'the CA that signs client certificates (requireClientAuth is true)');
    }
  }

  /** Reads every file of a client `tls` block (`at`: its key path). */
  loadClient(tls: Obj, at: string): void {
    const trust = tls['trustCerts'];
    if (Array.isArray(trust)) trust.forEach((p, i) => this.load(p, `${at}.trustCerts[${i}]`));
    if (tls['trustCertsBundle'] !== undefined) this.load(tls['trustCertsBundle'], `${at}.trustCertsBundle`);
    const auth = tls['clientAuth'] as Obj | undefined;
    if (auth !== undefined) {
      this.load(auth['certPath'], `${at}.clientAuth.certPath`);
      this.load(auth['keyPath'], `${at}.clientAuth.keyPath`);
      if (auth['intermediateCertsPath'] !== undefined) this.load(auth['intermediateCertsPath'], `${at}.clientAuth.intermediateCertsPath`);
    }
    versions(tls['protocols'], `${at}.protocols`, this.makeError, this.configFile);
  }
}

/** `protocols: [TLSv1.2, ...]` as Node's min and max versions (none given: Node's defaults). */
function versions(protocols: unknown, keyPath: string, make: TlsErrorFactory = (m) => new Error(m), file?: string): { minVersion?: SecureVersion; maxVersion?: SecureVersion } {
  if (protocols === undefined) return {};
  const list = Array.isArray(protocols) ? protocols : [protocols];
  const idx = list.map((p) => VERSIONS.indexOf(p as SecureVersion));
  if (list.length === 0 || idx.some((i) => i < 0)) throw configError(make, file, keyPath, protocols, VERSIONS.join(', '));
  return { minVersion: VERSIONS[Math.min(...idx)]!, maxVersion: VERSIONS[Math.max(...idx)]! };
}

const chain = (cert: Buffer, intermediates: Buffer | undefined): Buffer => (intermediates === undefined ? cert : Buffer.concat([cert, Buffer.from('\n'), intermediates]));

/** A server `tls` block as node:tls server options; undefined when absent or `enabled: false`. */
export function serverTlsOptions(tls: Obj | undefined, files: TlsFiles): TlsOptions | undefined {
  if (tls === undefined || tls['enabled'] === false) return undefined;
  const opts: TlsOptions = {
    cert: chain(files.get(tls['certPath'] as string), tls['intermediateCertsPath'] === undefined ? undefined : files.get(tls['intermediateCertsPath'] as string)),
    key: files.get(tls['keyPath'] as string),
    ...versions(tls['protocols'], 'tls.protocols'),
  };
  if (tls['caCertPath'] !== undefined) opts.ca = files.get(tls['caCertPath'] as string);
  if (tls['requireClientAuth'] === true) {
    opts.requestCert = true;
    opts.rejectUnauthorized = true;
  }
  if (Array.isArray(tls['ciphers']) && tls['ciphers'].length > 0) opts.ciphers = (tls['ciphers'] as string[]).join(':');
  return opts;
}

/**
 * A client `tls` block (its `{var}` captures already substituted) as node:tls connect options;
 * undefined when absent or `enabled: false`. The upstream's certificate is checked against
 * `commonName` when given (also sent as SNI when it is a host name), else against the address
 * dialled; `disableValidation` accepts any certificate.
 */
export function clientTlsOptions(tls: Obj | undefined, files: TlsFiles): ConnectionOptions | undefined {
  if (tls === undefined || tls === null || tls['enabled'] === false) return undefined;
  const cas: Buffer[] = [];
  if (Array.isArray(tls['trustCerts'])) for (const p of tls['trustCerts'] as string[]) cas.push(files.get(p));
  if (typeof tls['trustCertsBundle'] === 'string') cas.push(files.get(tls['trustCertsBundle']));
  const opts: ConnectionOptions = { ...versions(tls['protocols'], 'tls.protocols') };
  if (cas.length > 0) opts.ca = cas.map((c) => c.toString('utf8'));
  const auth = tls['clientAuth'] as Obj | undefined;
  if (auth !== undefined) {
    opts.cert = chain(files.get(auth['certPath'] as string), auth['intermediateCertsPath'] === undefined ? undefined : files.get(auth['intermediateCertsPath'] as string));
    opts.key = files.get(auth['keyPath'] as string);
  }
  if (tls['disableValidation'] === true) {
    opts.rejectUnauthorized = false;
  } else {
    opts.rejectUnauthorized = true;
    const cn = tls['commonName'];
    if (typeof cn === 'string' && cn !== '') {
      const { checkServerIdentity } = requireBuiltin('node:tls') as typeof import('node:tls');
      opts.checkServerIdentity = (_host: string, cert: PeerCertificate) => checkServerIdentity(cn, cert);
      if (!/^[\d.]+$/.test(cn) && !cn.includes(':')) opts.servername = cn;
    }
  }
  return opts;
}

/**
 * Every TLS file a loaded linkerd.yaml names (servers, clients, admin, namers), read now:
 * the problems as messages, one per file, for `meshwork linkerd --validate`.
 */
export function tlsFileProblems(config: {
  readonly file?: string;
  readonly admin?: unknown;
  readonly namers?: readonly unknown[];
  readonly routers?: readonly Readonly<Record<string, unknown>>[];
  /** namerd's interfaces (their server `tls` blocks). */
  readonly interfaces?: readonly unknown[];
}): string[] {
  const problems: string[] = [];
  const files = new TlsFiles(config.file);
  const check = (f: () => void): void => {
    try {
      f();
    } catch (e) {
      problems.push((e as Error).message);
    }
  };
  const on = (tls: unknown): tls is Obj => typeof tls === 'object' && tls !== null && (tls as Obj)['enabled'] !== false;
  const admin = config.admin as Obj | undefined;
  if (on(admin?.['tls'])) check(() => files.loadServer(admin!['tls'] as Obj, 'admin.tls'));
  (config.namers ?? []).forEach((n, i) => {
    const tls = (n as Obj)['tls'];
    if (on(tls)) check(() => files.loadClient(tls, `namers[${i}].tls`));
  });
  (config.interfaces ?? []).forEach((f, i) => {
    const tls = (f as Obj)['tls'];
    if (on(tls)) check(() => files.loadServer(tls, `interfaces[${i}].tls`));
  });
  (config.routers ?? []).forEach((r, i) => {
    const servers = Array.isArray(r['servers']) ? (r['servers'] as Obj[]) : [];
    servers.forEach((s, j) => {
      if (on(s['tls'])) check(() => files.loadServer(s['tls'] as Obj, `routers[${i}].servers[${j}].tls`));
    });
    const client = r['client'] as { kind?: string; configs?: readonly Obj[] } | undefined;
    (client?.configs ?? []).forEach((c, k) => {
      const at = client?.kind === 'io.l5d.static' ? `routers[${i}].client.configs[${k}].tls` : `routers[${i}].client.tls`;
      if (on(c['tls'])) check(() => files.loadClient(c['tls'] as Obj, at));
    });
  });
  return problems;
}
