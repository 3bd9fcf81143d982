#!/usr/bin/env -S GLIBC_TUNABLES=glibc.malloc.trim_threshold=33554432 node --no-concurrent-recompilation --single-threaded-gc
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
//
// GLIBC_TUNABLES=glibc.malloc.trim_threshold=33554432 (32 MiB): glibc's malloc keeps up to
// that much freed memory at the top of its heap instead of handing it back to the kernel at
// once (the default threshold is 128 KiB). Sockets read with 'data' events (the tcp router's
// splices, TLS, HTTP/2) get a fresh 64 KiB buffer from malloc per read, which the garbage
// collector frees in bulk: with the default, glibc gave the memory back and the next reads
// faulted it in again, page by page. Through a tcp router with 64 KB
// responses (wrk, 50 connections, 3 runs of 2 s per fresh process, 2026-12-05): without it 3
// of 9 processes ran at 2,958-3,659 req/s with 13-16 page faults per request, the others at
// 6,743-15,410 with 0-4; with it 15 of 15 ran at 8,413-14,678 with none, loaded RSS 85-112 MB
// (61-113 without); 8 and 16 MiB were too little (1 and 2 of 4 processes still faulted).
// glibc reads the variable only at start-up, hence the #! line; it replaces a
// GLIBC_TUNABLES of your own (a #! line has 127 bytes on older kernels, too few to merge
// both): to set your own, run `node [flags] bin/meshwork.js ...`. Other C libraries ignore it.
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
