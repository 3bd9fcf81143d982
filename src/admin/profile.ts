/**
 * `/admin/profile.cpuprofile?seconds=N`: a CPU profile of this process over the next N seconds,
 * taken by V8's sampling profiler through an in-process inspector session, answered as a
 * `.cpuprofile` (open it in Chrome DevTools' Performance panel or speedscope; `npm run
 * bench:profile` summarises one per function and per part of the code). Linkerd's admin had
 * `/admin/pprof/profile` for the same purpose; the JVM's pprof format has no meaning for a V8
 * process, so this path names the format it answers in.
 *
 * The profiler runs only while a request waits for it, one at a time (409 while one runs), and
 * `node:inspector` is loaded on the first request: a process that is never profiled pays
 * nothing. It is a diagnostics endpoint (admin.security.diagnosticsEnabled).
 */
import type { AdminRequest, AdminResponse, AdminRoute } from '../telemetry/telemeter.js';

export const PROFILE_PATH = '/admin/profile.cpuprofile';
const DEFAULT_SECONDS = 10;
const MAX_SECONDS = 60;
const MIN_SECONDS = 0.1;
/** V8's default sampling interval (µs) and the range allowed. */
const DEFAULT_INTERVAL_US = 1000;
const MIN_INTERVAL_US = 50;
const MAX_INTERVAL_US = 100_000;

interface ProfilerSession {
  connect(): void;
  disconnect(): void;
  post(method: string, params?: object): Promise<unknown>;
}

const plain = (status: number, body: string): AdminResponse => ({ status, headers: { 'content-type': 'text/plain;charset=utf-8' }, body: body + '\n' });

/** A number query parameter within [min, max], its default when absent, or an error message. */
function numberParam(req: AdminRequest, name: string, dflt: number, min: number, max: number): number | string {
  const raw = req.query.get(name);
  if (raw === null) return dflt;
  const n = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(n) || n < min || n > max) return `${name} must be a number from ${min} to ${max}; found ${JSON.stringify(raw)}`;
  return n;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** One profile at a time per process (a linker and its namerd may share one). */
let running = false;

export function cpuProfileRoute(): AdminRoute {
  return {
    path: PROFILE_PATH,
    async handle(req: AdminRequest): Promise<AdminResponse> {
      const seconds = numberParam(req, 'seconds', DEFAULT_SECONDS, MIN_SECONDS, MAX_SECONDS);
      if (typeof seconds === 'string') return plain(400, seconds);
      const interval = numberParam(req, 'interval_us', DEFAULT_INTERVAL_US, MIN_INTERVAL_US, MAX_INTERVAL_US);
      if (typeof interval === 'string') return plain(400, interval);
      if (running) return plain(409, 'a CPU profile is already being taken; try again when it is done');
      running = true;
      let session: ProfilerSession | undefined;
      try {
        let Session: new () => ProfilerSession;
        try {
          ({ Session } = (await import('node:inspector/promises')) as unknown as { Session: new () => ProfilerSession });
        } catch (e) {
          return plain(501, `this node has no inspector, so no CPU profiler: ${(e as Error).message}`);
        }
        session = new Session();
        session.connect();
        await session.post('Profiler.enable');
        await session.post('Profiler.setSamplingInterval', { interval: Math.round(interval) });
        await session.post('Profiler.start');
        await sleep(seconds * 1000);
        const { profile } = (await session.post('Profiler.stop')) as { profile: unknown };
        const stamp = new Date().toISOString().replace(/[:.]/g, '-');
        return {
          status: 200,
          headers: {
            'content-type': 'application/json',
            'content-disposition': `attachment; filename="meshwork-${process.pid}-${stamp}.cpuprofile"`,
          },
          body: JSON.stringify(profile),
        };
      } catch (e) {
        return plain(500, `CPU profile failed: ${(e as Error).message}`);
      } finally {
        if (session !== undefined) {
          await session.post('Profiler.disable').catch(() => {});
          session.disconnect();
        }
        running = false;
      }
    },
  };
}
