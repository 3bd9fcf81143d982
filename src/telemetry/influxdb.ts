/**
 * `io.l5d.influxdb`: `/admin/metrics/influxdb` in InfluxDB line protocol, meant for Telegraf's
 * exec input. As in Linkerd, the metrics directly under one scope become the fields of one
 * measurement named by the scope (`rt:service`), identifying scopes become tags (rt, server,
 * service, client) and a `host` tag carries the collector's Host header. Stats contribute
 * `<name>_count`, `_sum`, `_avg`, `_min`, `_max`, `_p50` … `_p9999` fields.
 */
import type { PluginSpec } from '../config/schema.js';
import type { MetricNode, MetricsRegistry } from './metrics-registry.js';
import type { Telemeter, TelemeterContext } from './telemeter.js';
import { text } from './telemeter.js';

type Tags = readonly (readonly [string, string])[];

function has(tags: Tags, k: string): boolean {
  return tags.some(([n]) => n === k);
}

function rewrite(p: readonly string[], tags: Tags): [readonly string[], Tags] {
  if (p[0] !== 'rt') return [p, tags];
  if (p.length === 2 && !has(tags, 'rt')) return [['rt'], [...tags, ['rt', p[1]!]]];
  if (p.length === 3 && (p[1] === 'service' || p[1] === 'client' || p[1] === 'server') && !has(tags, p[1])) {
    return [['rt', p[1]], [...tags, [p[1], p[2]!]]];
  }
  if (p.length === 4 && p[1] === 'client' && p[2] === 'service' && !has(tags, 'service')) {
    return [['rt', 'client', 'service'], [...tags, ['service', p[3]!]]];
  }
  return [p, tags];
}

/** Line protocol escaping for measurement names, tag keys/values and field keys. */
function esc(s: string): string {
  return s.replace(/[ ,=\\]/g, (c) => '\\' + c);
}

function fmtNumber(v: number): string {
  return Number.isFinite(v) ? String(v) : '0';
}

function writeNode(node: MetricNode, prefix: readonly string[], tags: Tags, out: string[]): void {
  const [p, t] = rewrite(prefix, tags);
  const fields: string[] = [];
  for (const [name, child] of node.children) {
    writeNode(child, [...p, name], t, out);
    const m = child.metric;
    if (m === null) continue;
    const k = esc(name);
    if (m.kind === 'stat') {
      const s = m.snapshotted;
      if (s === null) continue;
      fields.push(
        `${k}_count=${s.count}`, `${k}_sum=${fmtNumber(s.sum)}`, `${k}_avg=${fmtNumber(s.avg)}`,
        `${k}_min=${s.min}`, `${k}_max=${s.max}`, `${k}_p50=${s.p50}`, `${k}_p90=${s.p90}`,
        `${k}_p95=${s.p95}`, `${k}_p99=${s.p99}`, `${k}_p999=${s.p9990}`, `${k}_p9999=${s.p9999}`,
      );
    } else {
      fields.push(`${k}=${fmtNumber(m.value)}`);
    }
  }
  if (fields.length === 0) return;
  const measurement = (p.length > 0 ? p : ['root']).join(':').replace(/[^a-zA-Z0-9:]/g, '_');
  const tagText = [...t].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)).map(([k, v]) => `,${esc(k)}=${esc(v)}`).join('');
  out.push(`${measurement}${tagText} ${fields.join(',')}`);
}

export function influxLines(metrics: MetricsRegistry, host: string): string {
  const out: string[] = [];
  writeNode(metrics.root, [], [['host', host]], out);
  return out.length === 0 ? '' : out.join('\n') + '\n';
}

export function createInfluxDbTelemeter(_cfg: Record<string, unknown>, ctx: TelemeterContext): Telemeter {
  return {
    kind: 'io.l5d.influxdb',
    adminRoutes: [
      {
        path: '/admin/metrics/influxdb',
        handle: (req) => {
          const h = req.headers.host;
          return text(200, influxLines(ctx.metrics, typeof h === 'string' && h.length > 0 ? h : 'none'));
        },
      },
    ],
    close: async () => {},
  };
}

export const influxDbSpec: PluginSpec<Record<string, unknown>, Telemeter, TelemeterContext> = {
  category: 'telemeter',
  kind: 'io.l5d.influxdb',
  fields: {},
  create: createInfluxDbTelemeter,
};
