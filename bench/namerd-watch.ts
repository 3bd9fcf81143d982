/**
 * Watch latency of namerd's dtab stores: the time from a dtab write until 1,000 watchers
 * (observers on one namespace, in a second store instance: another namerd replica) all have
 * it. Starts a real etcd and ZooKeeper and the in-test k8s and Consul servers on loopback.
 *
 *   npx tsc -p . && node dist/bench/namerd-watch.js [--watchers 1000] [--rounds 30]
 *
 * Not a test: it prints a table (milliseconds) and exits.
 */
import { performance } from 'node:perf_hooks';
import { readStoredDtab } from '../src/namerd/stores/dtab-codec.js';
import { InMemoryDtabStore } from '../src/namerd/stores/in-memory.js';
import { EtcdDtabStore } from '../src/namerd/stores/etcd.js';
import { ZkDtabStore } from '../src/namerd/stores/zk.js';
import { K8sDtabStore } from '../src/namerd/stores/k8s.js';
import { ConsulDtabStore } from '../src/namerd/stores/consul.js';
import type { DtabStore } from '../src/namerd/stores/store.js';
import { startEtcd } from '../test/support/etcd.js';
import { startZooKeeper } from '../test/support/zookeeper.js';
import { startFakeK8s } from '../test/support/fake-k8s.js';
import { startFakeConsul } from '../test/support/fake-consul.js';

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
}

const WATCHERS = arg('watchers', 1000);
const ROUNDS = arg('rounds', 30);
const ROUND_TIMEOUT_MS = 10000;

interface Row {
  store: string;
  rounds: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

async function measure(name: string, writer: DtabStore, reader: DtabStore): Promise<Row> {
  const ns = 'bench';
  await writer.put(ns, readStoredDtab('/svc=>/round/0'));
  let want = '';
  let seen = 0;
  let done: (() => void) | undefined;
  const act = reader.observe(ns);
  const handles = [];
  for (let i = 0; i < WATCHERS; i++) {
    let last = '';
    handles.push(
      act.states.observe((s) => {
        if (s.type !== 'ok' || s.value === null) return;
        const text = s.value.dtab.show();
        if (text === last) return;
        last = text;
        if (text === want && ++seen === WATCHERS) done?.();
      }),
    );
  }
  const times: number[] = [];
  try {
    for (let r = 1; r <= ROUNDS; r++) {
      want = `/svc=>/round/${r}`;
      seen = 0;
      const all = new Promise<void>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`${name}: round ${r}: ${seen}/${WATCHERS} watchers after ${ROUND_TIMEOUT_MS}ms`)), ROUND_TIMEOUT_MS);
        done = () => {
          clearTimeout(t);
          resolve();
        };
      });
      const t0 = performance.now();
      await writer.put(ns, readStoredDtab(want));
      await all;
      times.push(performance.now() - t0);
    }
  } finally {
    for (const h of handles) h.close();
  }
  times.sort((a, b) => a - b);
  const q = (p: number) => times[Math.min(times.length - 1, Math.floor(p * times.length))]!;
  return { store: name, rounds: ROUNDS, p50: q(0.5), p90: q(0.9), p99: q(0.99), max: times[times.length - 1]! };
}

async function main(): Promise<void> {
  const rows: Row[] = [];
  const mem = new InMemoryDtabStore();
  rows.push(await measure('io.l5d.inMemory (same store)', mem, mem));
  await mem.close();

  const etcd = await startEtcd();
  try {
    const cfg = { host: etcd.host, port: etcd.port };
    const a = new EtcdDtabStore(cfg);
    const b = new EtcdDtabStore(cfg);
    rows.push(await measure('io.l5d.etcd (real etcd)', a, b));
    await a.close();
    await b.close();
  } finally {
    await etcd.close();
  }

  const zk = await startZooKeeper();
  try {
    const cfg = { zkAddrs: [{ host: zk.host, port: zk.port }] };
    const a = new ZkDtabStore(cfg);
    const b = new ZkDtabStore(cfg);
    rows.push(await measure('io.l5d.zk (real ZooKeeper)', a, b));
    await a.close();
    await b.close();
  } finally {
    await zk.close();
  }

  const k8s = await startFakeK8s();
  try {
    const cfg = { host: k8s.host, port: k8s.port };
    const a = new K8sDtabStore(cfg);
    const b = new K8sDtabStore(cfg);
    rows.push(await measure('io.l5d.k8s (fake API)', a, b));
    await a.close();
    await b.close();
  } finally {
    await k8s.stop();
  }

  const consul = await startFakeConsul();
  try {
    const cfg = { host: consul.host, port: consul.port };
    const a = new ConsulDtabStore(cfg);
    const b = new ConsulDtabStore(cfg);
    rows.push(await measure('io.l5d.consul (fake agent)', a, b));
    await a.close();
    await b.close();
  } finally {
    await consul.stop();
  }

  const f = (n: number) => n.toFixed(2).padStart(8);
  const w = Math.max(...rows.map((r) => r.store.length));
  console.log(`dtab write -> ${WATCHERS} watchers have it (ms), ${ROUNDS} writes per store, watchers on a second store instance`);
  console.log(`${'store'.padEnd(w)}   ${'p50'.padStart(8)} ${'p90'.padStart(8)} ${'p99'.padStart(8)} ${'max'.padStart(8)}`);
  for (const r of rows) console.log(`${r.store.padEnd(w)}   ${f(r.p50)} ${f(r.p90)} ${f(r.p99)} ${f(r.max)}`);
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    console.error(e);
    process.exit(1);
  },
);
