/**
 * Buffers finished spans and POSTs them as one JSON document per batch: when `maxBatch` spans
 * are waiting or every `flushIntervalMs` (one shared, unref'd timer). At most `maxQueued` spans
 * wait; beyond that new spans are dropped and counted, so a dead collector costs memory that is
 * bounded. Export failures are counted, never thrown at the request path.
 */
import { request } from 'node:http';
import type { FinishedSpan, SpanSink } from './tracing.js';

export interface SpanBatcherOptions {
  readonly host: string;
  readonly port: number;
  readonly path: string;
  readonly encode: (spans: readonly FinishedSpan[]) => string;
  readonly maxBatch?: number;
  readonly maxQueued?: number;
  readonly flushIntervalMs?: number;
}

export class SpanBatcher implements SpanSink {
  private queue: FinishedSpan[] = [];
  private readonly timer: NodeJS.Timeout;
  private inflight = new Set<Promise<void>>();
  sent = 0;
  dropped = 0;
  failed = 0;

  constructor(private readonly opts: SpanBatcherOptions) {
    this.timer = setInterval(() => void this.flush(), opts.flushIntervalMs ?? 1000);
    this.timer.unref();
  }

  record(span: FinishedSpan): void {
    if (this.queue.length >= (this.opts.maxQueued ?? 10_000)) {
      this.dropped++;
      return;
    }
    this.queue.push(span);
    if (this.queue.length >= (this.opts.maxBatch ?? 100)) void this.flush();
  }

  flush(): Promise<void> {
    if (this.queue.length > 0) {
      const batch = this.queue;
      this.queue = [];
      const p = this.post(batch).finally(() => this.inflight.delete(p));
      this.inflight.add(p);
    }
    return Promise.all([...this.inflight]).then(() => undefined);
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.flush();
  }

  private post(batch: readonly FinishedSpan[]): Promise<void> {
    const body = this.opts.encode(batch);
    return new Promise<void>((resolve) => {
      const req = request(
        {
          host: this.opts.host,
          port: this.opts.port,
          path: this.opts.path,
          method: 'POST',
          headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
          timeout: 5000,
        },
        (res) => {
          res.resume();
          res.on('end', () => {
            if ((res.statusCode ?? 0) >= 200 && (res.statusCode ?? 0) < 300) this.sent += batch.length;
            else this.failed += batch.length;
            resolve();
          });
          res.on('error', () => {
            this.failed += batch.length;
            resolve();
          });
        },
      );
      req.on('timeout', () => req.destroy(new Error('span export timed out')));
      req.on('error', () => {
        this.failed += batch.length;
        resolve();
      });
      req.end(body);
    });
  }
}
