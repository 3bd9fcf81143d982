/**
 * `admin.security` (Linkerd's AdminSecurityConfig). Each path falls in one category: UI
 * (dashboard pages and the JSON they read), control (changes state: shutdown), or diagnostics
 * (everything else). A path is refused when it matches `pathBlacklist`; otherwise it is served
 * when its category is enabled or it matches `pathWhitelist`. Patterns are regular expressions
 * matched against the whole path. All categories default to enabled, as in Linkerd.
 * Meshwork answers a refused path with 403 (Linkerd: 404) so operators can tell "forbidden"
 * from "no such page".
 */
import { AdminError } from './errors.js';

export interface AdminSecurityConfig {
  readonly uiEnabled?: boolean;
  readonly controlEnabled?: boolean;
  readonly diagnosticsEnabled?: boolean;
  readonly pathWhitelist?: readonly string[];
  readonly pathBlacklist?: readonly string[];
}

export type Category = 'ui' | 'control' | 'diagnostics';

const UI = [
  '/',
  '/files/.*',
  '/admin/files/.*',
  '/config[.]json',
  '/metrics[.]json',
  '/admin/metrics[.]json',
  '/admin/metrics',
  '/delegator',
  '/delegator[.]json',
  '/logging',
  '/help',
  // Meshwork's dashboard pages and the router list they read
  '/requests',
  '/clients',
  '/admin/routers[.]json',
  // namerd's namespace page (src/namerd/admin) reads this
  '/namespaces[.]json',
].map((s) => new RegExp(`^${s}$`));

// namerd's dtab writes from its admin page change state like shutdown does (src/namerd/admin)
const CONTROL = ['/admin/shutdown', '/logging[.]json', '/namespaces/(?:create|save|delete)'].map((s) => new RegExp(`^${s}$`));

export function categoryOf(path: string): Category {
  if (UI.some((r) => r.test(path))) return 'ui';
  if (CONTROL.some((r) => r.test(path))) return 'control';
  return 'diagnostics';
}

function compile(patterns: readonly string[] | undefined, key: string): RegExp[] {
  return (patterns ?? []).map((p, i) => {
    try {
      return new RegExp(`^(?:${p})$`);
    } catch (e) {
      throw new AdminError('MESH_ERR_ADMIN_SECURITY_PATTERN', `admin.security.${key}[${i}]: '${p}' is not a valid regular expression: ${(e as Error).message}`, {
        key: `admin.security.${key}[${i}]`,
        found: p,
      });
    }
  });
}

export class SecurityFilter {
  private readonly enabled: Readonly<Record<Category, boolean>>;
  private readonly whitelist: RegExp[];
  private readonly blacklist: RegExp[];

  constructor(cfg: AdminSecurityConfig = {}) {
    this.enabled = {
      ui: cfg.uiEnabled ?? true,
      control: cfg.controlEnabled ?? true,
      diagnostics: cfg.diagnosticsEnabled ?? true,
    };
    this.whitelist = compile(cfg.pathWhitelist, 'pathWhitelist');
    this.blacklist = compile(cfg.pathBlacklist, 'pathBlacklist');
  }

  allows(path: string): boolean {
    if (this.blacklist.some((r) => r.test(path))) return false;
    return this.enabled[categoryOf(path)] || this.whitelist.some((r) => r.test(path));
  }

  get uiEnabled(): boolean {
    return this.enabled.ui;
  }
}
