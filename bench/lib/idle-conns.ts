/**
 * Opens N keep-alive connections to a proxy, sends one request on each (so the proxy has
 * really accepted and served them), then holds them idle so the proxy's RSS can be read.
 */
import { connect, type Socket } from 'node:net';

export interface IdleHold {
  opened: number;
  answered: number;
  close(): void;
}

export async function holdIdle(port: number, n: number, path: string, timeoutMs: number): Promise<IdleHold> {
  const socks: Socket[] = [];
  const req = Buffer.from(`GET ${path} HTTP/1.1\r\nHost: bench\r\n\r\n`, 'latin1');
  let answered = 0;
  let opened = 0;
  const deadline = Date.now() + timeoutMs;
  // Open in batches so the listen backlog does not overflow.
  const batch = 500;
  for (let i = 0; i < n && Date.now() < deadline; i += batch) {
    const wave: Promise<void>[] = [];
    for (let j = i; j < Math.min(n, i + batch); j++) {
      wave.push(new Promise<void>((resolve) => {
        const s = connect(port, '127.0.0.1');
        socks.push(s);
        const t = setTimeout(resolve, Math.max(1, deadline - Date.now()));
        s.once('connect', () => { opened++; s.write(req); });
        s.once('data', () => { answered++; clearTimeout(t); resolve(); });
        s.once('error', () => { clearTimeout(t); resolve(); });
      }));
    }
    await Promise.all(wave);
  }
  return { opened, answered, close: () => { for (const s of socks) s.destroy(); } };
}
