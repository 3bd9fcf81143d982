import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resolveInet, type HostResolver } from '../../src/namers/builtin/inet.js';
import type { Addr } from '../../src/naming/addr.js';
import { Var } from '../../src/naming/var.js';
import { observerCountOf } from '../../src/naming/activity.js';

function describe(a: Addr): string {
  if (a.type === 'bound') return a.addrs.map((x) => `${x.host}:${x.port}`).join(',');
  return a.type;
}

/** A resolver whose answers are scripted; counts calls. */
function scripted(answers: (readonly string[] | Error)[]): { resolver: HostResolver; calls: () => number } {
  let i = 0;
  return {
    resolver: async () => {
      const a = answers[Math.min(i, answers.length - 1)]!;
      i++;
      if (a instanceof Error) throw a;
      return a.map((address) => ({ address }));
    },
    calls: () => i,
  };
}

test('inet re-resolves while observed and stops when the last observer leaves', async () => {
  const s = scripted([['10.0.0.1'], ['10.0.0.1'], ['10.0.0.1', '10.0.0.2'], ['10.0.0.3']]);
  const v = resolveInet('svc.example', 80, true, s.resolver, 5);
  const seen: string[] = [];
  const sub = v.observe((a) => seen.push(describe(a)));
  await Var.firstMatching(v, (a) => describe(a) === '10.0.0.3:80', 2000);
  sub.close();
  assert.deepEqual(seen, ['pending', '10.0.0.1:80', '10.0.0.1:80,10.0.0.2:80', '10.0.0.3:80']);
  assert.equal(observerCountOf(v), 0);
  const calls = s.calls();
  await new Promise((r) => setTimeout(r, 30));
  assert.equal(s.calls(), calls, 'no resolution after the last observer left');
});

test('a failed re-resolution keeps the last good answer; an unknown host is neg', async () => {
  const notFound = Object.assign(new Error('getaddrinfo ENOTFOUND x'), { code: 'ENOTFOUND' });
  const s = scripted([['10.0.0.1'], notFound, new Error('resolver down'), ['10.0.0.9']]);
  const v = resolveInet('svc.example', 81, true, s.resolver, 5);
  const seen: string[] = [];
  const sub = v.observe((a) => seen.push(describe(a)));
  await Var.firstMatching(v, (a) => describe(a) === '10.0.0.9:81', 2000);
  sub.close();
  assert.deepEqual(seen, ['pending', '10.0.0.1:81', '10.0.0.9:81']);

  const neg = resolveInet('nowhere.example', 1, false, scripted([notFound]).resolver);
  assert.equal(describe(await Var.firstMatching(neg, (a) => a.type !== 'pending', 2000)), 'neg');
  const failed = resolveInet('broken.example', 1, false, scripted([new Error('resolver down')]).resolver);
  const f = await Var.firstMatching(failed, (a) => a.type !== 'pending', 2000);
  assert.equal(f.type === 'failed' && f.cause.message, 'resolver down');
});

test('fixedinet (no refresh) resolves once per observation', async () => {
  const s = scripted([['10.0.0.1'], ['10.0.0.2']]);
  const v = resolveInet('svc.example', 82, false, s.resolver, 5);
  const sub = v.observe(() => {});
  await Var.firstMatching(v, (a) => a.type === 'bound', 2000);
  await new Promise((r) => setTimeout(r, 30));
  sub.close();
  assert.equal(s.calls(), 1);
  assert.equal(describe(v.sample()), '10.0.0.1:82');
});

test('IP literals bind without resolving', () => {
  const s = scripted([new Error('must not be called')]);
  assert.equal(describe(resolveInet('::1', 83, true, s.resolver).sample()), '::1:83');
  assert.equal(describe(resolveInet('', 84, true, s.resolver).sample()), '0.0.0.0:84');
  assert.equal(s.calls(), 0);
});
