/**
 * The in-process metrics tree behind the `Metrics` contract (Linkerd's MetricsTree). Each path
 * element is one scope, so `['rt', 'in', 'server', '127.0.0.1/4140', 'requests']` prints as
 * `rt/in/server/127.0.0.1/4140/requests`.
 *
 * Counters and gauges are read live. Stats (histograms) are summarised and reset once per
 * snapshot interval, as Linkerd does (its default is one minute); readers see the summary of
 * the last completed interval. Until the first snapshot a stat is not reported at all.
 */
import type { Counter, Gauge, Metrics, Stat } from './metrics.js';
import { Histogram, type StatSummary } from './histogram.js';
import { TelemetryError } from './errors.js';

export type Labels = Readonly<Record<string, string>>;
const NO_LABELS: Labels = Object.freeze({});

export class CounterMetric implements Counter {
  readonly kind = 'counter' as const;
  value = 0;
  constructor(readonly labels: Labels) {}
  incr(n = 1): void {
    this.value += n;
  }
}

export class GaugeMetric implements Gauge {
  readonly kind = 'gauge' as const;
  constructor(
    public fn: () => number,
    readonly labels: Labels,
  ) {}
  get value(): number {
    try {
      const v = this.fn();
      return Number.isFinite(v) ? v : 0;
    } catch {
      return 0; // a gauge whose source went away reads as 0 rather than breaking the endpoint
    }
  }
}

export class StatMetric implements Stat {
  readonly kind = 'stat' as const;
  readonly histogram = new Histogram();
  /** Summary of the last completed interval; null before the first snapshot. */
  snapshotted: StatSummary | null = null;
  constructor(readonly labels: Labels) {}
  add(value: number): void {
    this.histogram.add(value);
  }
  snapshot(): void {
    this.snapshotted = this.histogram.summary();
    this.histogram.reset();
  }
}

export type Metric = CounterMetric | GaugeMetric | StatMetric;

export class MetricNode {
  readonly children = new Map<string, MetricNode>();
  metric: Metric | null = null;
}

export interface MetricsRegistryOptions {
  /** How often stats are summarised and reset; Linkerd's default is 60 s. 0 disables the timer. */
  readonly snapshotIntervalMs?: number;
}

/** The stat fields written for each histogram in flat JSON, in Linkerd's order. */
const STAT_FIELDS = ['max', 'min', 'p50', 'p90', 'p95', 'p99', 'p9990', 'p9999', 'sum', 'avg'] as const;

export class MetricsRegistry implements Metrics {
  readonly root = new MetricNode();
  readonly snapshotIntervalMs: number;
  private timer: NodeJS.Timeout | undefined;
  /** Listeners told after each snapshot (exporters that push, e.g. statsd). */
  private readonly snapshotListeners = new Set<() => void>();

  constructor(opts: MetricsRegistryOptions = {}) {
    this.snapshotIntervalMs = opts.snapshotIntervalMs ?? 60_000;
  }

  counter(path: readonly string[], labels?: Labels): CounterMetric {
    const node = this.resolveOrMake(path);
    const m = node.metric;
    if (m === null) return (node.metric = new CounterMetric(labels ?? NO_LABELS));
    if (m.kind !== 'counter') throw kindConflict(path, m.kind, 'counter');
    return m;
  }

  stat(path: readonly string[], labels?: Labels): StatMetric {
    const node = this.resolveOrMake(path);
    const m = node.metric;
    if (m === null) return (node.metric = new StatMetric(labels ?? NO_LABELS));
    if (m.kind !== 'stat') throw kindConflict(path, m.kind, 'stat');
    return m;
  }

  /** Registering a gauge again at the same path replaces its function (a rebuilt stack). */
  gauge(path: readonly string[], fn: () => number, labels?: Labels): GaugeMetric {
    const node = this.resolveOrMake(path);
    const m = node.metric;
    if (m === null) return (node.metric = new GaugeMetric(fn, labels ?? NO_LABELS));
    if (m.kind !== 'gauge') throw kindConflict(path, m.kind, 'gauge');
    m.fn = fn;
    return m;
  }

  remove(path: readonly string[]): void {
    if (path.length === 0) {
      this.root.children.clear();
      this.root.metric = null;
      return;
    }
    const parents: MetricNode[] = [this.root];
    let node = this.root;
    for (const el of path) {
      const next = node.children.get(el);
      if (next === undefined) return;
      parents.push(next);
      node = next;
    }
    // Detach the subtree, then prune ancestors left with neither metric nor children.
    parents[parents.length - 2]!.children.delete(path[path.length - 1]!);
    for (let i = parents.length - 2; i > 0; i--) {
      const p = parents[i]!;
      if (p.metric !== null || p.children.size > 0) break;
      parents[i - 1]!.children.delete(path[i - 1]!);
    }
  }

  /** Summarises and resets every stat (one interval ends). */
  snapshot(): void {
    snapshotNode(this.root);
    for (const l of this.snapshotListeners) l();
  }

  onSnapshot(fn: () => void): () => void {
    this.snapshotListeners.add(fn);
    return () => this.snapshotListeners.delete(fn);
  }

  /** Starts the snapshot timer (unref'd: it never keeps the process alive). Idempotent. */
  start(): this {
    if (this.timer === undefined && this.snapshotIntervalMs > 0) {
      this.timer = setInterval(() => this.snapshot(), this.snapshotIntervalMs);
      this.timer.unref();
    }
    return this;
  }

  close(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  /**
   * Finds the subtree named by a `/`-separated query. Because one scope may itself contain `/`
   * (`127.0.0.1/4140`, `$/inet/127.1/80`), each step tries the longest run of segments first.
   */
  resolve(q: string): MetricNode | undefined {
    return this.resolveWithPath(q)?.node;
  }

  /** Like resolve(), also giving the scopes that were matched (for flat names under `q`). */
  resolveWithPath(q: string): { node: MetricNode; path: string[] } | undefined {
    const segs = q.split('/').filter((s) => s.length > 0);
    const path: string[] = [];
    const node = resolveSegs(this.root, segs, 0, path);
    return node === undefined ? undefined : { node, path };
  }

  /** Every metric with its full path, in registration order (depth first). */
  forEach(fn: (path: readonly string[], metric: Metric) => void, from: MetricNode = this.root, prefix: readonly string[] = []): void {
    walk(from, prefix.slice(), fn);
  }

  /** Linkerd's flat `/admin/metrics.json` object. */
  flatJson(from: MetricNode = this.root, prefix: readonly string[] = []): Record<string, number> {
    const out: Record<string, number> = {};
    this.forEach((path, m) => writeFlat(out, path.join('/'), m), from, prefix);
    return out;
  }

  /** Linkerd's `?tree=1` shape: nested objects, a metric under the key counter/gauge/stat. */
  treeJson(from: MetricNode = this.root): Record<string, unknown> {
    return treeOf(from);
  }

  private resolveOrMake(path: readonly string[]): MetricNode {
    if (path.length === 0) throw new TelemetryError('MESH_ERR_METRIC_PATH_INVALID', 'metric path is empty', { path: [] });
    let node = this.root;
    for (const el of path) {
      if (el.length === 0) {
        throw new TelemetryError('MESH_ERR_METRIC_PATH_INVALID', `metric path ${JSON.stringify(path)} has an empty element`, { path });
      }
      let next = node.children.get(el);
      if (next === undefined) {
        next = new MetricNode();
        node.children.set(el, next);
      }
      node = next;
    }
    return node;
  }
}

function kindConflict(path: readonly string[], found: string, wanted: string): TelemetryError {
  return new TelemetryError(
    'MESH_ERR_METRIC_KIND_CONFLICT',
    `metric ${path.join('/')} is a ${found}, not a ${wanted}`,
    { path, found, wanted },
  );
}

function snapshotNode(node: MetricNode): void {
  if (node.metric !== null && node.metric.kind === 'stat') node.metric.snapshot();
  for (const c of node.children.values()) snapshotNode(c);
}

function walk(node: MetricNode, path: string[], fn: (path: readonly string[], m: Metric) => void): void {
  if (node.metric !== null && path.length > 0) fn(path, node.metric);
  for (const [name, child] of node.children) {
    path.push(name);
    walk(child, path, fn);
    path.pop();
  }
}

function resolveSegs(node: MetricNode, segs: readonly string[], i: number, path: string[]): MetricNode | undefined {
  if (i === segs.length) return node;
  for (let j = segs.length; j > i; j--) {
    const name = segs.slice(i, j).join('/');
    const child = node.children.get(name);
    if (child !== undefined) {
      path.push(name);
      const found = resolveSegs(child, segs, j, path);
      if (found !== undefined) return found;
      path.pop();
    }
  }
  return undefined;
}

export function writeFlat(out: Record<string, number>, name: string, m: Metric): void {
  if (m.kind === 'stat') {
    const s = m.snapshotted;
    if (s === null) return;
    out[`${name}.count`] = s.count;
    if (s.count > 0) for (const f of STAT_FIELDS) out[`${name}.${f}`] = s[f];
  } else {
    out[name] = m.value;
  }
}

function treeOf(node: MetricNode): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const m = node.metric;
  if (m !== null) {
    if (m.kind === 'stat') {
      const flat: Record<string, number> = {};
      writeFlat(flat, 'stat', m);
      Object.assign(out, flat);
    } else {
      out[m.kind] = m.value;
    }
  }
  for (const [name, child] of node.children) out[name] = treeOf(child);
  return out;
}
