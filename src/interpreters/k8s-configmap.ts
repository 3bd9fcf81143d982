/**
 * `io.l5d.k8s.configMap`: binds through the linker's own namers, like `default`, under the dtab
 * held in one entry (`filename`) of the ConfigMap `<namespace>/<name>`, read from the Kubernetes
 * API (kubectl proxy at host:port, as the k8s namers) and watched, so an edit of the ConfigMap
 * reroutes without a restart. As with the file interpreter the ConfigMap's entries come first
 * and the router's and the request's win.
 *
 * What Linkerd's ConfigMapInterpreter does, and so do we: a ConfigMap that does not exist (or
 * is deleted), or has no entry `filename`, is an empty dtab; an entry that does not parse keeps
 * the last dtab (the empty one if none was read yet) and is reported once. The API answering
 * an error keeps the last dtab too (ConfiguredDtabInterpreter); before any dtab, binding fails
 * with the reason, and while the API is unreachable it waits, up to the router's
 * bindingTimeoutMs. The watch itself (re-list on 410 Gone, resume after a dropped stream) is
 * the k8s namers' client, K8sApi.
 */
import { Activity, PENDING, failed, ok, stateEquals } from '../naming/activity.js';
import type { ActivityState, Closable } from '../naming/contracts.js';
import { Dtab } from '../naming/dtab.js';
import { readDtab } from '../naming/parser.js';
import { AsyncVar } from '../naming/var.js';
import { K8sApi, type ObjectState } from '../namers/k8s/api.js';
import { ConfiguredDtabInterpreter, type DtabFileDeps } from './dtab-file.js';
import { InterpreterError, interpreterConfigError, type ConfigWhere } from './errors.js';

const KIND = 'io.l5d.k8s.configMap';

/** Kubernetes' DNS-1123 label (a namespace) and subdomain (a ConfigMap's name), and a ConfigMap key. */
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const CONFIG_MAP_KEY = /^[-._a-zA-Z0-9]+$/;

const dtabEquals = (a: Dtab, b: Dtab): boolean => a === b || a.show() === b.show();

function stringKey(config: Readonly<Record<string, unknown>>, where: ConfigWhere | undefined, key: string, fallback: string | undefined, valid: (s: string) => boolean, allowed: string): string {
  const v = config[key] ?? fallback;
  if (typeof v !== 'string' || !valid(v)) throw interpreterConfigError(where, key, v, allowed);
  return v;
}

export function k8sConfigMapInterpreter(config: Readonly<Record<string, unknown>>, deps: Pick<DtabFileDeps, 'bind' | 'explain' | 'log'>, where?: ConfigWhere): ConfiguredDtabInterpreter {
  const host = stringKey(config, where, 'host', 'localhost', (s) => s !== '', 'the Kubernetes API host (kubectl proxy), a non-empty host name');
  const port = config['port'] ?? 8001;
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) throw interpreterConfigError(where, 'port', port, 'a port number 1-65535');
  const namespace = stringKey(config, where, 'namespace', 'default', (s) => s.length <= 63 && DNS_LABEL.test(s), 'a Kubernetes namespace name (lower-case letters, digits and -, at most 63)');
  const name = stringKey(config, where, 'name', undefined, (s) => s.length <= 253 && DNS_SUBDOMAIN.test(s), 'a ConfigMap name (lower-case letters, digits, - and ., at most 253)');
  const filename = stringKey(config, where, 'filename', undefined, (s) => s.length <= 253 && CONFIG_MAP_KEY.test(s), 'a ConfigMap data key (letters, digits, -, _ and ., at most 253)');

  const log = deps.log ?? ((line: string) => void process.stderr.write(line + '\n'));
  const what = `${KIND} interpreter: ConfigMap ${namespace}/${name}`;
  const object = new K8sApi(host, port).object(namespace, 'configmaps', name);
  // Whether a dtab was given yet: an entry that does not parse before that is Linkerd's empty dtab.
  let given = false;
  // The last notice logged here (a missing ConfigMap or key, a first entry that does not parse).
  let notice = '';
  const say = (line: string): void => {
    if (line !== notice) log((notice = line));
  };

  const toState = (s: ObjectState): ActivityState<Dtab> => {
    if (s.type === 'pending') return PENDING;
    if (s.type === 'failed') return failed(new InterpreterError('MESH_ERR_INTERPRETER_DTAB', `${what}: cannot read it: ${s.error.message}`));
    if (s.type === 'missing') {
      say(`${what} does not exist; routing on an empty dtab until it is created`);
      return ok(Dtab.empty);
    }
    const data = s.object['data'] as Record<string, unknown> | null | undefined;
    const text = data !== null && typeof data === 'object' ? data[filename] : undefined;
    if (text === undefined) {
      say(`${what} has no key '${filename}'; routing on an empty dtab until it is added`);
      return ok(Dtab.empty);
    }
    let dtab: Dtab;
    try {
      if (typeof text !== 'string') throw new Error(`found ${JSON.stringify(text)}, not a string`);
      dtab = readDtab(text);
    } catch (e) {
      const problem = `${what} key '${filename}' is not a valid dtab: ${(e as Error).message}`;
      if (given) return failed(new InterpreterError('MESH_ERR_INTERPRETER_DTAB', problem));
      say(`${problem}; routing on an empty dtab until it is fixed`);
      return ok(Dtab.empty);
    }
    notice = '';
    return ok(dtab);
  };

  // The watch runs while some name is bound through the interpreter; close() ends it for good.
  let closed = false;
  const running = new Set<Closable>();
  const states = new AsyncVar<ActivityState<Dtab>>(
    PENDING,
    (update) => {
      if (closed) return { close: () => undefined };
      const h = object.observe((s) => {
        const next = toState(s);
        if (next.type === 'ok') given = true;
        update(next);
      });
      running.add(h);
      return {
        close: () => {
          running.delete(h);
          h.close();
        },
      };
    },
    stateEquals(dtabEquals),
  );
  return new ConfiguredDtabInterpreter(deps, new Activity(states), () => {
    closed = true;
    for (const h of running) h.close();
    running.clear();
  });
}
