import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AccessLogWriter, formatAccessLine, nextRollAt, parseRollPolicy } from '../../src/telemetry/access-log.js';
import { TelemetryError } from '../../src/telemetry/errors.js';

const T0 = Date.UTC(2026, 10, 25, 6, 59, 58); // Wed 25 Nov 2026 06:59:58 UTC

const entry = {
  host: 'users.local', remote: '127.0.0.1', method: 'GET', uri: '/users/1?x=1', httpVersion: '1.1', status: 200,
  responseBytes: 12, referer: undefined, userAgent: 'curl/8', logicalName: '/svc/users', client: '/#/io.l5d.fs/users', time: T0,
};

test('an access line is Linkerd\'s common log line plus logical name and client', () => {
  assert.equal(
    formatAccessLine(entry),
    'users.local 127.0.0.1 - - [25/11/2026:06:59:58 +0000] "GET /users/1?x=1 HTTP/1.1" 200 12 "-" "curl/8" /svc/users /#/io.l5d.fs/users',
  );
  assert.equal(
    formatAccessLine({ ...entry, host: undefined, responseBytes: undefined, logicalName: undefined, client: undefined }),
    '- 127.0.0.1 - - [25/11/2026:06:59:58 +0000] "GET /users/1?x=1 HTTP/1.1" 200 - "-" "curl/8" - -',
  );
});

test('roll policies parse Linkerd\'s words and sizes; bad ones fail with a code', () => {
  assert.deepEqual(parseRollPolicy('Never'), { type: 'never' });
  assert.deepEqual(parseRollPolicy('daily'), { type: 'daily' });
  assert.deepEqual(parseRollPolicy('weekly(3)'), { type: 'weekly', day: 3 });
  assert.deepEqual(parseRollPolicy('3.megabytes'), { type: 'size', bytes: 3 * 1024 * 1024 });
  assert.deepEqual(parseRollPolicy('1.gigabyte'), { type: 'size', bytes: 1024 ** 3 });
  assert.throws(() => parseRollPolicy('sometimes'), (e: unknown) => e instanceof TelemetryError && e.code === 'MESH_ERR_ACCESS_LOG_CONFIG');
  assert.equal(nextRollAt({ type: 'hourly' }, T0), Date.UTC(2026, 10, 25, 7));
  assert.equal(nextRollAt({ type: 'daily' }, T0), Date.UTC(2026, 10, 26));
  assert.equal(nextRollAt({ type: 'weekly', day: 0 }, T0), Date.UTC(2026, 10, 29)); // next Sunday
  assert.equal(nextRollAt({ type: 'weekly', day: 3 }, T0), Date.UTC(2026, 11, 2)); // a week after this Wednesday
});

test('hourly roll renames the file, rotateCount keeps the newest, append=false truncates', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'mesh-access-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'access.log');
  writeFileSync(path, 'old\n');
  let now = T0;
  const w = AccessLogWriter.fromRouterConfig(
    { httpAccessLog: path, httpAccessLogRollPolicy: 'hourly', httpAccessLogAppend: false, httpAccessLogRotateCount: 1 },
    () => now,
  );
  assert.ok(w);
  w.write('a\n');
  now = T0 + 3000; // 07:00:01: past the hour
  w.write('b\n');
  now = T0 + 3600_000 + 3000; // 08:00:01
  w.write('c\n');
  await w.close();
  // give the ended streams a turn to flush into the renamed files
  await new Promise((r) => setImmediate(r));
  assert.equal(readFileSync(path, 'utf8'), 'c\n');
  const rolled = readdirSync(dir).filter((f) => f !== 'access.log');
  assert.deepEqual(rolled, ['access.log.20261125-080001']);
  assert.equal(readFileSync(join(dir, rolled[0]!), 'utf8'), 'b\n');
  assert.equal(AccessLogWriter.fromRouterConfig({}), null);
  assert.equal(AccessLogWriter.fromRouterConfig({ httpAccessLog: path }, undefined, 'h2'), null);
  const h2 = AccessLogWriter.fromRouterConfig({ h2AccessLog: join(dir, 'h2.log') }, () => T0, 'h2');
  assert.equal(h2?.path, join(dir, 'h2.log'));
  await h2!.close();
});

test('size roll starts a new file before a line would pass the limit; append keeps old content', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'mesh-access-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'access.log');
  writeFileSync(path, 'old\n');
  const w = new AccessLogWriter(path, { rollPolicy: '10.bytes', now: () => T0 });
  w.write('12345\n'); // 4 + 6 = 10: fits
  w.write('x\n'); // would be 12: roll first
  await w.close();
  await new Promise((r) => setImmediate(r));
  assert.equal(readFileSync(path, 'utf8'), 'x\n');
  assert.equal(readFileSync(join(dir, 'access.log.20261125-065958'), 'utf8'), 'old\n12345\n');
});

test('an access log that cannot be opened, or a bad roll policy, is named by its router\'s key', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'mesh-access-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const missing = join(dir, 'logs', 'access.log');
  assert.throws(
    () => AccessLogWriter.fromRouterConfig({ h2AccessLog: missing }, undefined, 'h2', 'routers[1].'),
    (e: unknown) =>
      e instanceof TelemetryError &&
      e.code === 'MESH_ERR_ACCESS_LOG_CONFIG' &&
      e.message === `routers[1].h2AccessLog: found ${JSON.stringify(missing)}; allowed: a file that can be opened for writing (ENOENT: its directory does not exist)`,
  );
  // A directory where the file should be.
  assert.throws(
    () => AccessLogWriter.fromRouterConfig({ httpAccessLog: dir }, undefined, 'http', 'routers[0].'),
    (e: unknown) => e instanceof TelemetryError && e.message === `routers[0].httpAccessLog: found ${JSON.stringify(dir)}; allowed: a file that can be opened for writing (EISDIR)`,
  );
  assert.throws(
    () => AccessLogWriter.fromRouterConfig({ h2AccessLog: join(dir, 'a.log'), h2AccessLogRollPolicy: 'sometimes' }, undefined, 'h2', 'routers[2].'),
    (e: unknown) => e instanceof TelemetryError && e.message.startsWith("routers[2].h2AccessLogRollPolicy: 'sometimes' is not one of never, hourly"),
  );
});
