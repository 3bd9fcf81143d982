#!/usr/bin/env -S node --no-concurrent-recompilation
// Thin launcher: the CLI is compiled to dist/ by `npm install` (the `prepare` script).
//
// --no-concurrent-recompilation: V8 optimises hot functions on the main thread instead of a
// helper thread. The helper's malloc arena kept ~2-4 MB resident after warm-up for good (RSS
// after the bench's warm-up: 58.3 MB with the flag, 60.2 without); the compile work is the
// same, it only stops running beside the requests. Running `node bin/meshwork.js ...` skips
// this line and keeps V8's default.
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
