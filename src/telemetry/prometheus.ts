/**
 * `io.l5d.prometheus`: the metrics tree in Prometheus text exposition format, named as Linkerd
 * names it. Path scopes that identify a thing become labels:
 *   rt/<label>/...                    → rt="<label>", name starts `rt`
 *   rt:{server,service,client}/<id>   → server= / service= / client= label
 *   rt:client/<id>/service/<svc>      → service= label under `rt:client:service`
 *   .../failures/<exn>, .../exn/<exn> → exception= label (nested exceptions joined by `:`)
 * Meshwork addition (Linkerd keeps these in the name): `.../status/<code>` becomes
 * `...:status{status_code="200"}` and `.../status/2XX` becomes `...:status_class{status_class="2XX"}`.
 * Stats print `_count`, `_sum`, `_avg` and quantile lines 0, 0.5 … 1 from the last snapshot,
 * and nothing while their last interval saw no samples. Labels given to the registry are
 * appended after the derived ones.
 */
import type { PluginSpec } from '../config/schema.js';
import type { MetricNode, MetricsRegistry } from './metrics-registry.js';
import type { Telemeter, TelemeterContext } from './telemeter.js';
import { text } from './telemeter.js';

const STACKS = new Set(['service', 'client', 'server']);
const QUANTILES = [
  ['0', 'min'],
  ['0.5', 'p50'],
  ['0.9', 'p90'],
  ['0.95', 'p95'],
  ['0.99', 'p99'],
  ['0.999', 'p9990'],
  ['0.9999', 'p9999'],
  ['1', 'max'],
] as const;
const STATUS_CLASS = /^[1-5]XX$/;
const STATUS_CODE = /^[1-5][0-9][0-9]$/;

type LabelList = readonly (readonly [string, string])[];

export function escapeMetricName(key: string): string {
  return key.replace(/[^a-zA-Z0-9:]/g, '_');
}

export function escapeLabelValue(v: string): string {
  return v.replace(/[\\"\n]/g, (c) => (c === '\n' ? '\\n' : '\\' + c));
}

function hasLabel(labels: LabelList, name: string): boolean {
  for (const [k] of labels) if (k === name) return true;
  return false;
}

function addException(labels: LabelList, exn: string): LabelList {
  const i = labels.findIndex(([k]) => k === 'exception');
  if (i < 0) return [...labels, ['exception', exn]];
  const copy = labels.slice();
  copy[i] = ['exception', `${labels[i]![1]}:${exn}`];
  return copy;
}

/** Linkerd's rewrite of one step of the walk: moves identifying scopes into labels. */
function rewrite(prefix: readonly string[], labels: LabelList): [readonly string[], LabelList] {
  const n = prefix.length;
  if (prefix[0] !== 'rt') return [prefix, labels];
  if (n === 2 && !hasLabel(labels, 'rt')) return [['rt'], [...labels, ['rt', prefix[1]!]]];
  if (n === 3 && STACKS.has(prefix[1]!) && !hasLabel(labels, prefix[1]!)) {
    return [['rt', prefix[1]!], [...labels, [prefix[1]!, prefix[2]!]]];
  }
  if (n === 4 && prefix[1] === 'client' && prefix[2] === 'service' && !hasLabel(labels, 'service')) {
    return [['rt', 'client', 'service'], [...labels, ['service', prefix[3]!]]];
  }
  if (n === 4 && STACKS.has(prefix[1]!) && prefix[2] === 'failures') {
    return [['rt', prefix[1]!, 'failures'], addException(labels, prefix[3]!)];
  }
  if (n === 4 && STACKS.has(prefix[1]!) && prefix[2] === 'exn') {
    return [['rt', prefix[1]!, 'exceptions'], addException(labels, prefix[3]!)];
  }
  if (n >= 3 && prefix[n - 2] === 'status') {
    const last = prefix[n - 1]!;
    if (STATUS_CODE.test(last)) return [prefix.slice(0, n - 1), [...labels, ['status_code', last]]];
    if (STATUS_CLASS.test(last)) return [[...prefix.slice(0, n - 2), 'status_class'], [...labels, ['status_class', last]]];
  }
  return [prefix, labels];
}

function formatLabels(labels: LabelList, extra: Readonly<Record<string, string>>, quantile?: string): string {
  const parts: string[] = [];
  for (const [k, v] of labels) parts.push(`${k}="${escapeLabelValue(v)}"`);
  for (const k of Object.keys(extra)) parts.push(`${escapeMetricName(k)}="${escapeLabelValue(extra[k]!)}"`);
  if (quantile !== undefined) parts.push(`quantile="${quantile}"`);
  return parts.length === 0 ? '' : `{${parts.join(', ')}}`;
}

/** Lines grouped by metric family (the text format wants one family's lines together). */
type Families = Map<string, string[]>;

function emit(families: Families, key: string, line: string): void {
  const lines = families.get(key);
  if (lines === undefined) families.set(key, [line]);
  else lines.push(line);
}

function writeNode(node: MetricNode, prefix: readonly string[], labels: LabelList, namePrefix: string, out: Families): void {
  const [p, l] = rewrite(prefix, labels);
  const m = node.metric;
  if (m !== null && p.length > 0) {
    const key = escapeMetricName(namePrefix + p.join(':'));
    if (m.kind === 'stat') {
      const s = m.snapshotted;
      if (s !== null && s.count > 0) {
        const ls = formatLabels(l, m.labels);
        emit(out, key, `${key}_count${ls} ${s.count}`);
        emit(out, key, `${key}_sum${ls} ${s.sum}`);
        emit(out, key, `${key}_avg${ls} ${s.avg}`);
        for (const [q, f] of QUANTILES) emit(out, key, `${key}${formatLabels(l, m.labels, q)} ${s[f]}`);
      }
    } else {
      emit(out, key, `${key}${formatLabels(l, m.labels)} ${m.value}`);
    }
  }
  for (const [name, child] of node.children) writeNode(child, [...p, name], l, namePrefix, out);
}

/**
 * The whole tree as Prometheus text (each line ends with a newline). Families appear in the
 * order first met in the tree, each family's series together.
 */
export function prometheusText(metrics: MetricsRegistry, prefix = ''): string {
  const families: Families = new Map();
  writeNode(metrics.root, [], [], prefix, families);
  let out = '';
  for (const lines of families.values()) for (const line of lines) out += line + '\n';
  return out;
}

export interface PrometheusConfig {
  readonly path?: string;
  readonly prefix?: string;
}

export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

export function createPrometheusTelemeter(cfg: PrometheusConfig, ctx: TelemeterContext): Telemeter {
  const path = cfg.path ?? '/admin/metrics/prometheus';
  const prefix = cfg.prefix ?? '';
  return {
    kind: 'io.l5d.prometheus',
    adminRoutes: [{ path, handle: () => text(200, prometheusText(ctx.metrics, prefix), PROMETHEUS_CONTENT_TYPE) }],
    close: async () => {},
  };
}

export const prometheusSpec: PluginSpec<PrometheusConfig, Telemeter, TelemeterContext> = {
  category: 'telemeter',
  kind: 'io.l5d.prometheus',
  fields: {
    path: { type: 'string', default: '/admin/metrics/prometheus', doc: 'HTTP path where the admin server exposes Prometheus metrics' },
    prefix: { type: 'string', default: '', doc: 'Prefix for exposed Prometheus metric names' },
  },
  create: createPrometheusTelemeter,
};
