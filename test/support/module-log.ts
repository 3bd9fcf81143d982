/**
 * Preloaded with `node --import` by tests that check which of Meshwork's modules a process
 * loads: every module resolved (ESM imports and require(esm) alike) is written, one URL a line,
 * to the file named by MESHWORK_MODULE_LOG when the process exits.
 */
import { createRequire, register } from 'node:module';
import { pathToFileURL } from 'node:url';
import { writeFileSync } from 'node:fs';
import { MessageChannel } from 'node:worker_threads';

const out = process.env['MESHWORK_MODULE_LOG'];
const seen = new Set<string>();
const { port1, port2 } = new MessageChannel();
port1.on('message', (url: string) => seen.add(url));
port1.unref();
register('./module-log-hooks.js', import.meta.url, { data: { port: port2 }, transferList: [port2] });
// Modules loaded by require() (Meshwork's load-on-use paths require ES modules) skip the
// hooks; they are in require's cache.
const cache = createRequire(import.meta.url).cache;
process.on('exit', () => {
  for (const file of Object.keys(cache)) seen.add(pathToFileURL(file).href);
  if (out !== undefined) writeFileSync(out, [...seen].join('\n') + '\n');
});
