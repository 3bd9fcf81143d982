/**
 * DC/OS service-account login for io.l5d.marathon, as Linkerd's Authenticator does it.
 * `DCOS_SERVICE_ACCOUNT_CREDENTIAL` holds `{"login_endpoint", "uid", "private_key", "scheme"}`
 * (a PEM RSA key; `RS256` is the only scheme). The namer POSTs `{"uid", "token"}`, the token an
 * RS256 JWT of `{uid, exp}` signed with the key, to the login endpoint's path, keeps the
 * `{"token"}` it answers and sends `Authorization: token=<token>` with every Marathon request.
 * As Linkerd does, the login goes through the Marathon client (its `dst`, `tls` and `Host`), so
 * only the path of `login_endpoint` is used.
 * Unlike Linkerd, the JWT carries an `exp` (DC/OS asks for one) and is signed afresh for each
 * login, and a failed login is retried with a doubling backoff where Linkerd keeps failing
 * until a request sees 401.
 */
import type { KeyObject } from 'node:crypto';
import { createRequire } from 'node:module';
import type { HttpClient } from '../namerd/stores/http-client.js';
import { NamerError, namerConfigError } from './errors.js';
import type { NamerContext } from './spec.js';

export const DCOS_AUTH_ENV = 'DCOS_SERVICE_ACCOUNT_CREDENTIAL';

/** node:crypto, loaded when a credential is read (~0.6 MB a proxy without DC/OS login need not hold). */
let crypto: typeof import('node:crypto') | undefined;
const requireBuiltin = createRequire(import.meta.url);
function nodeCrypto(): typeof import('node:crypto') {
  return (crypto ??= requireBuiltin('node:crypto') as typeof import('node:crypto'));
}
/** How long a login JWT is good for; it is used once, at once. */
const JWT_LIFETIME_S = 5 * 60;
const BACKOFF_MS = 200;
const MAX_BACKOFF_MS = 5000;

export interface DcosCredential {
  /** `login_endpoint` as given, named in errors. */
  readonly loginEndpoint: string;
  /** Its path, which is what is POSTed to. */
  readonly loginPath: string;
  readonly uid: string;
  readonly privateKey: KeyObject;
}

const FIELDS = ['login_endpoint', 'uid', 'private_key', 'scheme'] as const;
const SHAPE = '{"login_endpoint": "<http(s) URL>", "uid": "<service account>", "private_key": "<PEM RSA private key>", "scheme": "RS256"}';

/**
 * Reads the credential JSON; errors name the variable and the field and never carry the
 * private key (nor the text around it when the JSON does not parse).
 */
export function parseDcosCredential(text: string, ctx: NamerContext): DcosCredential {
  const where = `${ctx.keyPath ?? 'namer'} (environment ${DCOS_AUTH_ENV})`;
  const bad = (field: string, found: unknown, allowed: string): NamerError =>
    namerConfigError('MESH_ERR_NAMER_CONFIG', ctx.file, field === '' ? where : `${where}.${field}`, found, allowed);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw bad('', `(${text.length} characters, not JSON)`, `a JSON object ${SHAPE}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw bad('', `(JSON ${Array.isArray(parsed) ? 'array' : parsed === null ? 'null' : typeof parsed})`, `a JSON object ${SHAPE}`);
  }
  const o = parsed as Record<string, unknown>;
  const missing = FIELDS.filter((f) => typeof o[f] !== 'string' || o[f] === '');
  if (missing.length > 0) {
    // What was found, with the key hidden.
    const shown: Record<string, unknown> = {};
    for (const f of FIELDS) if (f in o) shown[f] = f === 'private_key' ? '(hidden)' : o[f];
    throw bad('', shown, `${SHAPE}; missing or not a non-empty string: ${missing.join(', ')}`);
  }
  const scheme = o['scheme'] as string;
  if (scheme !== 'RS256') throw bad('scheme', scheme, 'RS256 (the only scheme DC/OS service accounts use)');
  const loginEndpoint = o['login_endpoint'] as string;
  let url: URL | undefined;
  try {
    url = new URL(loginEndpoint);
  } catch {
    url = undefined;
  }
  if (url === undefined || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
    throw bad('login_endpoint', loginEndpoint, 'an absolute http or https URL, such as https://leader.mesos/acs/api/v1/auth/login');
  }
  const pem = o['private_key'] as string;
  let privateKey: KeyObject;
  try {
    privateKey = nodeCrypto().createPrivateKey(pem);
  } catch (e) {
    throw bad('private_key', `(hidden; ${keyProblem(pem, e)})`, 'a PEM RSA private key without a passphrase');
  }
  if (privateKey.asymmetricKeyType !== 'rsa') {
    throw bad('private_key', `(hidden; a ${privateKey.asymmetricKeyType ?? 'unknown'} key)`, 'a PEM RSA private key (RS256 signs with RSA)');
  }
  return { loginEndpoint, loginPath: url.pathname, uid: o['uid'] as string, privateKey };
}

/** What is wrong with a key node:crypto cannot read, in words that quote none of it. */
function keyProblem(pem: string, e: unknown): string {
  if (!pem.includes('-----BEGIN ')) return 'not PEM';
  if (/-----BEGIN (PUBLIC KEY|RSA PUBLIC KEY|CERTIFICATE)-----/.test(pem)) return 'a public key or certificate, not a private key';
  if (pem.includes('ENCRYPTED') || /passphrase|interrupted or cancelled/i.test(String((e as Error).message))) return 'encrypted';
  // node:crypto's message names the decoder's failure, never the key's bytes.
  return `unreadable: ${(e as Error).message}`;
}

/** The login JWT: `{uid, exp}` signed RS256 (RSASSA-PKCS1-v1_5 over SHA-256). */
export function loginJwt(cred: DcosCredential, nowMs: number): string {
  const header = Buffer.from(JSON.stringify({ alg: 'RS256', typ: 'JWT' })).toString('base64url');
  const claims = Buffer.from(JSON.stringify({ uid: cred.uid, exp: Math.floor(nowMs / 1000) + JWT_LIFETIME_S })).toString('base64url');
  const signature = nodeCrypto().sign('sha256', Buffer.from(`${header}.${claims}`), cred.privateKey).toString('base64url');
  return `${header}.${claims}.${signature}`;
}

export interface DcosLoginOptions {
  /** The `Host` header of the login request (the namer's `host`). */
  readonly host: string;
  /** A login not answered within this many ms fails. */
  readonly timeoutMs: number;
  /** First and largest delay before another login after a failed one (defaults 200 ms and 5 s). */
  readonly backoffMs?: number;
  readonly maxBackoffMs?: number;
}

/**
 * The token every poll of one namer shares: one login at a time, and after a failed login no
 * other until its backoff has passed (polls meanwhile fail with that login's error).
 */
export class DcosLogin {
  private token: string | undefined;
  private pending: Promise<string> | undefined;
  private failures = 0;
  private retryAt = 0;
  private lastError: Error | undefined;

  constructor(
    private readonly client: HttpClient,
    readonly credential: DcosCredential,
    private readonly opts: DcosLoginOptions,
  ) {}

  /** The token to send: the one held, else the login under way, else a new login. */
  current(): Promise<string> {
    if (this.token !== undefined) return Promise.resolve(this.token);
    if (this.pending !== undefined) return this.pending;
    if (this.lastError !== undefined && Date.now() < this.retryAt) return Promise.reject(this.lastError);
    const p = this.login().then(
      (token) => {
        this.pending = undefined;
        this.token = token;
        this.failures = 0;
        this.lastError = undefined;
        return token;
      },
      (e: unknown) => {
        this.pending = undefined;
        const base = this.opts.backoffMs ?? BACKOFF_MS;
        const delay = Math.min(base * 2 ** this.failures, this.opts.maxBackoffMs ?? MAX_BACKOFF_MS);
        this.failures++;
        this.retryAt = Date.now() + delay;
        const message = e instanceof Error ? e.message : String(e);
        this.lastError = new NamerError('MESH_ERR_NAMER_UNAVAILABLE', `${message} (next login in ${delay} ms)`);
        throw this.lastError;
      },
    );
    this.pending = p;
    return p;
  }

  /** Marathon refused `token` (401, expired): the next `current()` logs in again, unless a newer token has replaced it. */
  expire(token: string): void {
    if (this.token === token) this.token = undefined;
  }

  private async login(): Promise<string> {
    const cred = this.credential;
    const what = `marathon POST ${cred.loginPath} (DC/OS login as ${cred.uid})`;
    const body = JSON.stringify({ uid: cred.uid, token: loginJwt(cred, Date.now()) });
    const abort = new AbortController();
    const deadline = setTimeout(() => abort.abort(new Error(`no answer within ${this.opts.timeoutMs} ms`)), this.opts.timeoutMs);
    try {
      const r = await this.client.request('POST', cred.loginPath, { headers: { host: this.opts.host }, body, signal: abort.signal });
      if (r.status !== 200) throw new NamerError('MESH_ERR_NAMER_UNAVAILABLE', `${what}: HTTP ${r.status} ${r.body.slice(0, 200)}`);
      let token: unknown;
      try {
        token = (JSON.parse(r.body) as { token?: unknown } | null)?.token;
      } catch {
        throw new NamerError('MESH_ERR_NAMER_UNAVAILABLE', `${what}: HTTP 200 with a body that is not JSON`);
      }
      if (typeof token !== 'string' || token === '') throw new NamerError('MESH_ERR_NAMER_UNAVAILABLE', `${what}: HTTP 200 without a "token"`);
      return token;
    } catch (e) {
      if (e instanceof NamerError) throw e;
      // A request our deadline aborted reports the deadline, not "This operation was aborted".
      const cause = abort.signal.aborted && abort.signal.reason instanceof Error ? abort.signal.reason : e;
      throw new NamerError('MESH_ERR_NAMER_UNAVAILABLE', `${what}: ${cause instanceof Error ? cause.message : String(cause)}`);
    } finally {
      clearTimeout(deadline);
    }
  }
}
