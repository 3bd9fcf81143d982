import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BindingCache, type BoundTree } from '../../src/router/binding-cache.js';
import type { ActivityState, Closable } from '../../src/naming/contracts.js';
import { Path } from '../../src/naming/path.js';

/** A bind function that records what is bound and which subscriptions are open. */
function recorder() {
  const bound: string[] = [];
  const open = new Set<string>();
  const bind = (dtabKey: string, path: Path) => ({
    states: {
      sample: (): ActivityState<BoundTree> => ({ type: 'pending' }),
      observe(fn: (s: ActivityState<BoundTree>) => void): Closable {
        const k = `${dtabKey} ${path.show()}`;
        bound.push(k);
        open.add(k);
        fn({ type: 'failed', error: new Error(k) });
        return { close: () => void open.delete(k) };
      },
    },
  });
  return { bound, open, bind };
}

test('binding cache: one entry per (dtab, name); the least recently used goes past capacity', (t) => {
  const r = recorder();
  const c = new BindingCache(r.bind, 2, 0);
  t.after(() => c.close());
  const a = Path.utf8('svc', 'a');
  const b = Path.utf8('svc', 'b');
  const e1 = c.get('/svc=>/x', a);
  assert.equal(c.get('/svc=>/x', Path.utf8('svc', 'a')), e1, 'an equal path (another object) finds the entry');
  assert.notEqual(c.get('/svc=>/y', a), e1, 'another dtab is another entry');
  assert.equal(c.size, 2);
  assert.equal(e1.state.type, 'failed');
  // A third entry pushes out the oldest one: its subscription is closed.
  c.get('/svc=>/x', b);
  assert.equal(c.size, 2);
  assert.deepEqual([...r.open].sort(), ['/svc=>/x /svc/b', '/svc=>/y /svc/a']);
  // Asking again binds afresh.
  c.get('/svc=>/x', a);
  assert.deepEqual(r.bound, ['/svc=>/x /svc/a', '/svc=>/y /svc/a', '/svc=>/x /svc/b', '/svc=>/x /svc/a']);
  assert.equal(c.size, 2);
  c.close();
  assert.equal(r.open.size, 0);
  assert.equal(c.size, 0);
});

test('binding cache: entries idle past the ttl are closed by the sweep', async (t) => {
  const r = recorder();
  const c = new BindingCache(r.bind, 10, 60);
  t.after(() => c.close());
  c.get('/d', Path.utf8('svc', 'idle'));
  const kept = Path.utf8('svc', 'kept');
  c.get('/d', kept);
  // Keep one entry in use while the other goes idle (bounded: at most 40 rounds of 10 ms).
  for (let i = 0; i < 40 && r.open.has('/d /svc/idle'); i++) {
    await new Promise((res) => setTimeout(res, 10));
    c.get('/d', kept);
  }
  assert.deepEqual([...r.open], ['/d /svc/kept']);
  assert.equal(c.size, 1);
});
