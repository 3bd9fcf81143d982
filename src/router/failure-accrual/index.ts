/**
 * Failure accrual registry (category `failureAccrual`).
 *
 * Contract (see accrual.ts): `createFailureAccrual(config, {now?, rng?, timer?})` once per
 * client gives a factory; per endpoint call `factory(onAvailabilityChange)` to get an
 * `EndpointAccrual`. Per request: `onRequest()` when sending, then `onSuccess()` /
 * `onFailure()` as the classifier says (`onIgnored()` when the attempt proves nothing); `available()` is what the balancer reads (via the
 * endpoint's `available`). `onAvailabilityChange(available)` fires on each change — rebuild
 * the balancer's picker there. Default (no config): 5 consecutive failures, equal-jittered
 * backoff 5 s .. 300 s. `close()` when the endpoint is removed.
 */
import type { Fields, PluginSpec } from '../../config/schema.js';
import { PluginError, numberKey } from '../plugin-errors.js';
import type { Backoff } from '../retries.js';
import { createBackoff, equalJitteredBackoff } from '../retries.js';
import type { AccrualStats, AccrualTimer, AvailabilityListener, EndpointAccrual, FailureAccrualPolicy } from './accrual.js';
import { ALWAYS_AVAILABLE, AccrualStateMachine, realTimer } from './accrual.js';
import { ConsecutiveFailuresPolicy, SuccessRatePolicy, SuccessRateWindowedPolicy } from './policies.js';

export type { AccrualStats, AccrualStatus, AccrualTimer, AvailabilityListener, EndpointAccrual, FailureAccrualPolicy } from './accrual.js';
export { AccrualStateMachine, ALWAYS_AVAILABLE, Ema, NO_ACCRUAL_STATS } from './accrual.js';
export { ConsecutiveFailuresPolicy, SuccessRatePolicy, SuccessRateWindowedPolicy } from './policies.js';

export interface AccrualContext {
  readonly now?: () => number;
  readonly rng?: () => number;
  readonly timer?: AccrualTimer;
  /** The client's `failure_accrual` counters (shared by its endpoints). */
  readonly stats?: AccrualStats;
}

/** Builds one endpoint's accrual state; the listener hears availability changes. */
export type AccrualFactory = (listener: AvailabilityListener) => EndpointAccrual;

type Obj = Readonly<Record<string, unknown>>;
type PolicyMaker = (backoff: Backoff, clock: () => number) => FailureAccrualPolicy;

const backoffField: Fields = {
  backoff: { type: { plugin: 'retryBackoff' }, doc: 'How long a dead endpoint waits to be probed (default jittered 5s..300s).' },
};

function accrualSpec(kind: string, fields: Fields, policy: (cfg: Obj) => PolicyMaker): PluginSpec<Record<string, unknown>, AccrualFactory, AccrualContext> {
  return {
    category: 'failureAccrual',
    kind,
    fields: { ...fields, ...backoffField },
    create: (cfg, ctx) => {
      const make = policy(cfg);
      const clock = ctx.now ?? Date.now;
      const timer = ctx.timer ?? realTimer;
      const backoff = createBackoff(cfg['backoff'] as Obj | undefined, { rng: ctx.rng }, equalJitteredBackoff(5_000, 300_000, ctx.rng));
      return (listener) => new AccrualStateMachine(make(backoff, clock), listener, clock, timer, ctx.stats);
    },
  };
}

export const DEFAULT_FAILURES = 5;

export const accrualPlugins: readonly PluginSpec<Record<string, unknown>, AccrualFactory, AccrualContext>[] = [
  accrualSpec('io.l5d.consecutiveFailures', { failures: { type: 'int', default: DEFAULT_FAILURES, min: 1 } }, (cfg) => {
    const n = numberKey('io.l5d.consecutiveFailures', cfg, 'failures', DEFAULT_FAILURES, 1, undefined, true);
    return (backoff) => new ConsecutiveFailuresPolicy(n, backoff);
  }),
  accrualSpec(
    'io.l5d.successRate',
    { successRate: { type: 'number', required: true, min: 0, max: 1 }, requests: { type: 'int', required: true, min: 1 } },
    (cfg) => {
      const sr = numberKey('io.l5d.successRate', cfg, 'successRate', undefined, 0, 1);
      const requests = numberKey('io.l5d.successRate', cfg, 'requests', undefined, 1, undefined, true);
      return (backoff) => new SuccessRatePolicy(sr, requests, backoff);
    },
  ),
  accrualSpec(
    'io.l5d.successRateWindowed',
    { successRate: { type: 'number', required: true, min: 0, max: 1 }, window: { type: 'int', required: true, min: 1 } },
    (cfg) => {
      const sr = numberKey('io.l5d.successRateWindowed', cfg, 'successRate', undefined, 0, 1);
      const window = numberKey('io.l5d.successRateWindowed', cfg, 'window', undefined, 1, undefined, true);
      return (backoff, clock) => new SuccessRateWindowedPolicy(sr, window, backoff, clock);
    },
  ),
  {
    category: 'failureAccrual',
    kind: 'none',
    fields: {},
    create: () => () => ALWAYS_AVAILABLE,
  },
];

/** The client's failure accrual (Linkerd's default when `failureAccrual` is absent). */
export function createFailureAccrual(config: Obj | undefined, ctx: AccrualContext = {}): AccrualFactory {
  const cfg = config ?? { kind: 'io.l5d.consecutiveFailures' };
  const spec = accrualPlugins.find((p) => p.kind === cfg['kind']);
  if (spec === undefined || spec.create === undefined) {
    throw new PluginError(
      'MESH_ERR_PLUGIN_UNKNOWN_KIND',
      `failureAccrual: unknown kind ${JSON.stringify(cfg['kind'])}; supported: ${accrualPlugins.map((p) => p.kind).join(', ')}`,
      'kind',
    );
  }
  return spec.create(cfg as Record<string, unknown>, ctx);
}
