#!/usr/bin/env -S node --no-concurrent-recompilation --single-threaded-gc
// Thin launcher: the CLI is compiled to dist/ by `npm install` (the `prepare` script).
//
// The V8 flags of the #! line (running `node bin/meshwork.js ...` skips the line and keeps
// V8's defaults):
// --no-concurrent-recompilation: V8 optimises hot functions on the main thread instead of a
// helper thread. The helper's malloc arena kept ~2-4 MB resident after warm-up for good (RSS
// after the bench's warm-up: 58.3 MB with the flag, 60.2 without); the compile work is the
// same, it only stops running beside the requests.
// --single-threaded-gc: the garbage collector's work stays on the main thread. A proxy is
// given one CPU or less, where helper threads only take turns with the main thread, which
// waits for them: young-generation pauses under the bench's fixed-rate load (20,000 req/s,
// 7 s, 278 pauses each) took 0.12-0.23 ms at the median instead of 0.18-0.32, 39-69 ms in all
// instead of 57-96, and CPU per request fell in 10 of 10 alternating rounds (29.5 against
// 29.9 µs/req at the median; bench/RESULTS.md, 2026-12-04).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const entry = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'src', 'cli', 'main.js');
if (!existsSync(entry)) {
  process.stderr.write('meshwork: not built yet; run `npm install` (or `npm run build`) first\n');
  process.exit(1);
}
const { main } = await import(entry);
process.exitCode = await main(process.argv.slice(2));
