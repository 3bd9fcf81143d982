import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MetricsRegistry } from '../../src/telemetry/metrics-registry.js';
import { createPrometheusTelemeter, prometheusText, escapeLabelValue } from '../../src/telemetry/prometheus.js';
import { influxLines } from '../../src/telemetry/influxdb.js';
import { statsdLines } from '../../src/telemetry/statsd.js';

function sample(): MetricsRegistry {
  const m = new MetricsRegistry();
  const srv = ['rt', 'in', 'server', '127.0.0.1/4140'];
  m.counter([...srv, 'requests']).incr(5);
  m.counter([...srv, 'success']).incr(3);
  m.counter([...srv, 'failures', 'com.twitter.finagle.NoBrokersAvailableException']).incr(2);
  m.counter([...srv, 'status', '200']).incr(3);
  m.counter([...srv, 'status', '5XX']).incr(2);
  const lat = m.stat([...srv, 'request_latency_ms']);
  for (const v of [1, 2, 3, 4, 5]) lat.add(v);
  m.counter(['rt', 'in', 'service', 'svc/users', 'requests']).incr(5);
  m.counter(['rt', 'in', 'client', '$/inet/127.1/8080', 'requests']).incr(4);
  m.counter(['rt', 'in', 'client', '$/inet/127.1/8080', 'service', 'svc/users', 'requests']).incr(4);
  m.gauge(['rt', 'in', 'client', '$/inet/127.1/8080', 'loadbalancer', 'size'], () => 1);
  m.counter(['jvm_uptime'], { pod: 'a"b' }).incr(9);
  m.snapshot();
  return m;
}

test('prometheus text: Linkerd names with labels, exact lines', () => {
  assert.equal(
    prometheusText(sample()),
    [
      'rt:server:requests{rt="in", server="127.0.0.1/4140"} 5',
      'rt:server:success{rt="in", server="127.0.0.1/4140"} 3',
      'rt:server:failures{rt="in", server="127.0.0.1/4140", exception="com.twitter.finagle.NoBrokersAvailableException"} 2',
      'rt:server:status{rt="in", server="127.0.0.1/4140", status_code="200"} 3',
      'rt:server:status_class{rt="in", server="127.0.0.1/4140", status_class="5XX"} 2',
      'rt:server:request_latency_ms_count{rt="in", server="127.0.0.1/4140"} 5',
      'rt:server:request_latency_ms_sum{rt="in", server="127.0.0.1/4140"} 15',
      'rt:server:request_latency_ms_avg{rt="in", server="127.0.0.1/4140"} 3',
      'rt:server:request_latency_ms{rt="in", server="127.0.0.1/4140", quantile="0"} 1',
      'rt:server:request_latency_ms{rt="in", server="127.0.0.1/4140", quantile="0.5"} 3',
      'rt:server:request_latency_ms{rt="in", server="127.0.0.1/4140", quantile="0.9"} 5',
      'rt:server:request_latency_ms{rt="in", server="127.0.0.1/4140", quantile="0.95"} 5',
      'rt:server:request_latency_ms{rt="in", server="127.0.0.1/4140", quantile="0.99"} 5',
      'rt:server:request_latency_ms{rt="in", server="127.0.0.1/4140", quantile="0.999"} 5',
      'rt:server:request_latency_ms{rt="in", server="127.0.0.1/4140", quantile="0.9999"} 5',
      'rt:server:request_latency_ms{rt="in", server="127.0.0.1/4140", quantile="1"} 5',
      'rt:service:requests{rt="in", service="svc/users"} 5',
      'rt:client:requests{rt="in", client="$/inet/127.1/8080"} 4',
      'rt:client:service:requests{rt="in", client="$/inet/127.1/8080", service="svc/users"} 4',
      'rt:client:loadbalancer:size{rt="in", client="$/inet/127.1/8080"} 1',
      'jvm_uptime{pod="a\\"b"} 9',
      '',
    ].join('\n'),
  );
});

test('prometheus prefix and route path come from the config', async () => {
  const m = sample();
  const t = createPrometheusTelemeter({ path: '/metrics', prefix: 'linkerd_' }, { metrics: m });
  assert.equal(t.adminRoutes[0]!.path, '/metrics');
  const res = await t.adminRoutes[0]!.handle({ method: 'GET', path: '/metrics', query: new URLSearchParams(), headers: {}, body: Buffer.alloc(0) });
  assert.equal(res.status, 200);
  assert.equal(res.headers!['content-type'], 'text/plain; version=0.0.4; charset=utf-8');
  assert.equal(String(res.body).split('\n')[0], 'linkerd_rt:server:requests{rt="in", server="127.0.0.1/4140"} 5');
  assert.equal(createPrometheusTelemeter({}, { metrics: m }).adminRoutes[0]!.path, '/admin/metrics/prometheus');
});

test('series of one family are written together even when the tree interleaves them', () => {
  const m = new MetricsRegistry();
  m.counter(['rt', 'in', 'client', 'a', 'requests']).incr(1);
  m.counter(['rt', 'in', 'client', 'a', 'success']).incr(1);
  m.counter(['rt', 'in', 'client', 'b', 'requests']).incr(2);
  m.counter(['rt', 'in', 'client', 'b', 'success']).incr(2);
  assert.equal(
    prometheusText(m),
    'rt:client:requests{rt="in", client="a"} 1\nrt:client:requests{rt="in", client="b"} 2\n' +
      'rt:client:success{rt="in", client="a"} 1\nrt:client:success{rt="in", client="b"} 2\n',
  );
});

test('label values escape backslash, quote and newline', () => {
  assert.equal(escapeLabelValue('a\\b"c\nd'), 'a\\\\b\\"c\\nd');
});

test('influxdb line protocol groups sibling metrics as fields with tags', () => {
  const m = new MetricsRegistry();
  m.counter(['rt', 'in', 'service', 'svc/users', 'requests']).incr(5);
  m.counter(['rt', 'in', 'service', 'svc/users', 'success']).incr(4);
  m.counter(['uptime']).incr(1);
  assert.equal(
    influxLines(m, 'collector:9990'),
    'rt:service,host=collector:9990,rt=in,service=svc/users requests=5,success=4\nroot,host=collector:9990 uptime=1\n',
  );
});

test('statsd lines carry counter deltas between exports', () => {
  const m = new MetricsRegistry();
  const c = m.counter(['rt', 'in', 'server', '127.0.0.1/4140', 'requests']);
  m.gauge(['g'], () => 2);
  const last = new Map<string, number>();
  c.incr(3);
  assert.deepEqual(statsdLines(m, 'linkerd', last), ['linkerd.rt.in.server.127_0_0_1_4140.requests:3|c', 'linkerd.g:2|g']);
  c.incr(2);
  assert.deepEqual(statsdLines(m, 'linkerd', last, 0.5), ['linkerd.rt.in.server.127_0_0_1_4140.requests:2|c|@0.5', 'linkerd.g:2|g']);
});

test('the statsd telemeter sends its lines to a UDP server and flushes on close', { timeout: 10_000 }, async (t) => {
  const { createSocket } = await import('node:dgram');
  const { createStatsDTelemeter } = await import('../../src/telemetry/statsd.js');
  const server = createSocket('udp4');
  t.after(() => server.close());
  const got = new Promise<string>((resolve) => server.once('message', (msg) => resolve(msg.toString())));
  await new Promise<void>((r) => server.bind(0, '127.0.0.1', r));
  const m = new MetricsRegistry();
  m.counter(['rt', 'in', 'service', 'svc/a', 'requests']).incr(4);
  const tel = createStatsDTelemeter({ experimental: true, hostname: '127.0.0.1', port: server.address().port, gaugeIntervalMs: 60_000, sampleRate: 1 }, { metrics: m });
  await tel.close();
  assert.equal(await got, 'linkerd.rt.in.service.svc_a.requests:4|c');
});
