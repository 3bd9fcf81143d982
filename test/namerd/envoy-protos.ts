/**
 * Envoy's own xDS v3 definitions (the copies @grpc/grpc-js-xds ships in deps/), for tests that
 * check what namerd sends against them rather than against Meshwork's proto/xds/: an ADS client
 * built from envoy/service/discovery/v3/ads.proto whose responses decode every Any (nested ones
 * too) with Envoy's message types, and a checker of the protoc-gen-validate rules Envoy
 * enforces on a resource before it takes it.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import protobuf from 'protobufjs';

const require = createRequire(import.meta.url);
const DEPS = join(dirname(require.resolve('@grpc/grpc-js-xds/package.json')), 'deps');
const INCLUDE = ['envoy-api', 'xds', 'googleapis', 'protoc-gen-validate'].map((d) => join(DEPS, d));
const FILES = [
  'envoy/service/discovery/v3/ads.proto',
  'envoy/config/listener/v3/listener.proto',
  'envoy/config/route/v3/route.proto',
  'envoy/config/cluster/v3/cluster.proto',
  'envoy/config/endpoint/v3/endpoint.proto',
  'envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.proto',
  'envoy/extensions/filters/http/router/v3/router.proto',
];

export type EnvoyAdsClient = grpc.Client & { StreamAggregatedResources(): grpc.ClientDuplexStream<Record<string, unknown>, EnvoyResponse> };
/** A DiscoveryResponse as Envoy's types decode it: each resource with its `@type` and fields. */
export interface EnvoyResponse {
  version_info: string;
  resources: Record<string, unknown>[];
  type_url: string;
  nonce: string;
}

/**
 * The responses of an ADS stream, kept by type: `next(type)` takes the oldest one of that type,
 * waiting at most `ms` for it. `seen` is called on each response as it arrives.
 */
export function responsesByType(
  call: grpc.ClientDuplexStream<Record<string, unknown>, EnvoyResponse>,
  seen?: (r: EnvoyResponse) => void,
): { readonly queue: EnvoyResponse[]; next(type: string, ms?: number): Promise<EnvoyResponse> } {
  const queue: EnvoyResponse[] = [];
  const waiters: { type: string; fn: (r: EnvoyResponse) => void }[] = [];
  call.on('data', (r: EnvoyResponse) => {
    r.resources = r.resources ?? [];
    seen?.(r);
    const i = waiters.findIndex((w) => w.type === r.type_url);
    if (i >= 0) waiters.splice(i, 1)[0]!.fn(r);
    else queue.push(r);
  });
  call.on('error', () => undefined);
  const next = (type: string, ms = 3000): Promise<EnvoyResponse> =>
    new Promise((resolve, reject) => {
      const i = queue.findIndex((q) => q.type_url === type);
      if (i >= 0) return resolve(queue.splice(i, 1)[0]!);
      const t = setTimeout(() => reject(new Error(`no ${type} response in ${ms} ms`)), ms);
      waiters.push({
        type,
        fn: (r) => {
          clearTimeout(t);
          resolve(r);
        },
      });
    });
  return { queue, next };
}

/** Envoy's ADS service; `json: true` makes protobufjs decode each Any by its type URL. */
export function envoyAdsClient(address: string): EnvoyAdsClient {
  const def = protoLoader.loadSync(FILES, { includeDirs: INCLUDE, keepCase: true, longs: String, enums: String, defaults: false, oneofs: false, json: true });
  const pkg = grpc.loadPackageDefinition(def) as unknown as { envoy: { service: { discovery: { v3: { AggregatedDiscoveryService: grpc.ServiceClientConstructor } } } } };
  return new pkg.envoy.service.discovery.v3.AggregatedDiscoveryService(address, grpc.credentials.createInsecure()) as unknown as EnvoyAdsClient;
}

let root: protobuf.Root | undefined;
function envoyRoot(): protobuf.Root {
  if (root !== undefined) return root;
  const r = new protobuf.Root();
  const dirs = [...INCLUDE, dirname(require.resolve('protobufjs/package.json'))];
  r.resolvePath = (_origin, target) => dirs.map((d) => join(d, target)).find((p) => existsSync(p)) ?? target;
  r.loadSync(FILES, { keepCase: true });
  return (root = r);
}

type Rules = Record<string, Record<string, unknown>>;

/** No NUL, CR or LF: protoc-gen-validate's HTTP_HEADER_NAME / HTTP_HEADER_VALUE with `strict: false`. */
const LOOSE_HEADER = /^[^\0\r\n]*$/;

/**
 * The protoc-gen-validate violations of `msg` (a decoded resource with its `@type`), each as
 * `<field path>: <rule>`; `unchecked` collects rules this checker does not know, on fields the
 * resource sets, so that a test can insist there are none.
 */
export function envoyViolations(msg: Record<string, unknown>): { violations: string[]; unchecked: string[] } {
  const violations: string[] = [];
  const unchecked: string[] = [];
  const typeOf = (url: string): protobuf.Type => envoyRoot().lookupType(url.slice(url.lastIndexOf('/') + 1));

  const num = (v: unknown): number => (typeof v === 'string' ? Number(v) : (v as number));
  const seconds = (d: unknown): number => {
    const o = (d ?? {}) as { seconds?: unknown; nanos?: unknown };
    return num(o.seconds ?? 0) + num(o.nanos ?? 0) / 1e9;
  };
  const bounds = (at: string, kind: string, x: number, r: Record<string, unknown>, conv: (v: unknown) => number): void => {
    for (const [k, lim] of Object.entries(r)) {
      const l = conv(lim);
      const ok = k === 'gt' ? x > l : k === 'gte' ? x >= l : k === 'lt' ? x < l : k === 'lte' ? x <= l : k === 'const' ? x === l : undefined;
      if (ok === undefined) {
        if (k === 'required') continue;
        unchecked.push(`${at}: ${kind}.${k}`);
      } else if (!ok) violations.push(`${at}: ${kind}.${k} ${JSON.stringify(lim)} (found ${x})`);
    }
  };

  const scalar = (at: string, field: protobuf.Field, v: unknown, rules: Rules): void => {
    for (const [kind, r] of Object.entries(rules)) {
      if (kind === 'message') {
        if (r['required'] === true && (v === undefined || v === null)) violations.push(`${at}: message.required`);
        continue;
      }
      if (kind === 'string') {
        const s = (v ?? '') as string;
        if (r['ignore_empty'] === true && s === '') continue;
        for (const [k, lim] of Object.entries(r)) {
          if (k === 'min_len' && [...s].length < num(lim)) violations.push(`${at}: string.min_len ${lim}`);
          else if (k === 'max_len' && [...s].length > num(lim)) violations.push(`${at}: string.max_len ${lim}`);
          else if (k === 'min_bytes' && Buffer.byteLength(s) < num(lim)) violations.push(`${at}: string.min_bytes ${lim}`);
          else if (k === 'max_bytes' && Buffer.byteLength(s) > num(lim)) violations.push(`${at}: string.max_bytes ${lim}`);
          else if (k === 'prefix' && !s.startsWith(lim as string)) violations.push(`${at}: string.prefix ${lim}`);
          else if (k === 'well_known_regex') {
            if ((lim === 'HTTP_HEADER_VALUE' || lim === 'HTTP_HEADER_NAME') && r['strict'] === false) {
              if (!LOOSE_HEADER.test(s)) violations.push(`${at}: string.well_known_regex ${lim}`);
            } else unchecked.push(`${at}: string.well_known_regex ${lim} strict ${r['strict']}`);
          } else if (k !== 'strict' && k !== 'ignore_empty' && !['min_len', 'max_len', 'min_bytes', 'max_bytes', 'prefix'].includes(k)) unchecked.push(`${at}: string.${k}`);
        }
        continue;
      }
      if (['uint32', 'int32', 'uint64', 'int64', 'double', 'float'].includes(kind)) {
        // On a wrapper (UInt32Value...), the rule is about the wrapped value, when it is set.
        const wrapped = field.resolvedType !== null;
        if (wrapped && (v === undefined || v === null)) continue;
        const x = wrapped ? num((v as { value?: unknown }).value ?? 0) : num(v ?? 0);
        bounds(at, kind, x, r, num);
        continue;
      }
      if (kind === 'enum') {
        const e = field.resolvedType as protobuf.Enum;
        const name = (v ?? e.valuesById[0]) as string;
        if (r['defined_only'] === true && e.values[name] === undefined) violations.push(`${at}: enum.defined_only (found ${name})`);
        for (const k of Object.keys(r)) if (k !== 'defined_only') unchecked.push(`${at}: enum.${k}`);
        continue;
      }
      if (kind === 'duration') {
        if (v === undefined || v === null) {
          if (r['required'] === true) violations.push(`${at}: duration.required`);
          continue;
        }
        bounds(at, 'duration', seconds(v), r, seconds);
        continue;
      }
      if (kind === 'repeated') {
        const a = (v ?? []) as unknown[];
        if (r['min_items'] !== undefined && a.length < num(r['min_items'])) violations.push(`${at}: repeated.min_items ${r['min_items']}`);
        if (r['max_items'] !== undefined && a.length > num(r['max_items'])) violations.push(`${at}: repeated.max_items ${r['max_items']}`);
        if (r['unique'] === true && new Set(a.map((x) => JSON.stringify(x))).size !== a.length) violations.push(`${at}: repeated.unique`);
        const items = r['items'] as Rules | undefined;
        if (items !== undefined) a.forEach((x, i) => scalar(`${at}[${i}]`, field, x, items));
        for (const k of Object.keys(r)) if (!['min_items', 'max_items', 'unique', 'items'].includes(k)) unchecked.push(`${at}: repeated.${k}`);
        continue;
      }
      if (v !== undefined && v !== null) unchecked.push(`${at}: ${kind}`);
    }
  };

  const walk = (at: string, type: protobuf.Type, m: Record<string, unknown>, depth: number): void => {
    if (depth > 30) return;
    for (const oneof of type.oneofsArray) {
      if (oneof.options?.['(validate.required)'] === true && !oneof.fieldsArray.some((f) => m[f.name] !== undefined && m[f.name] !== null)) {
        violations.push(`${at}${oneof.name}: oneof required`);
      }
    }
    for (const field of type.fieldsArray) {
      const v = m[field.name];
      // A oneof member that is not the one set is not validated.
      if (field.partOf !== null && (v === undefined || v === null)) continue;
      const at2 = `${at}${field.name}`;
      field.resolve();
      const parsed = (field.parsedOptions ?? []) as Record<string, unknown>[];
      for (const o of parsed) {
        const rules = o['(validate.rules)'] as Rules | undefined;
        if (rules !== undefined) scalar(at2, field, v, rules);
      }
      if (v === undefined || v === null) continue;
      const t = field.resolvedType;
      if (!(t instanceof protobuf.Type)) continue;
      const each = field.repeated ? (v as unknown[]) : field.map ? Object.values(v as object) : [v];
      each.forEach((x, i) => {
        const path = field.repeated ? `${at2}[${i}].` : `${at2}.`;
        const obj = x as Record<string, unknown>;
        if (t.fullName === '.google.protobuf.Any') {
          const url = obj['@type'];
          if (typeof url !== 'string') {
            violations.push(`${path}: an Any that Envoy's types could not decode`);
            return;
          }
          walk(path, typeOf(url), obj, depth + 1);
        } else if (!t.fullName.startsWith('.google.protobuf.')) walk(path, t, obj, depth + 1);
      });
    }
  };

  const url = msg['@type'];
  if (typeof url !== 'string') return { violations: ['a resource that Envoy\'s types could not decode'], unchecked };
  walk('', typeOf(url), msg, 0);
  return { violations, unchecked };
}

/**
 * The keys of `obj` (an Envoy config as YAML gives it, Anys with `@type`) that are no field of
 * Envoy's `typeName`, and enum values it does not define, each as `<key path>: <problem>`.
 */
export function unknownEnvoyFields(typeName: string, obj: Record<string, unknown>, files: readonly string[]): string[] {
  const r = new protobuf.Root();
  const dirs = [...INCLUDE, dirname(require.resolve('protobufjs/package.json'))];
  r.resolvePath = (_origin, target) => dirs.map((d) => join(d, target)).find((p) => existsSync(p)) ?? target;
  r.loadSync([...files], { keepCase: true });
  const problems: string[] = [];
  const walk = (type: protobuf.Type, o: Record<string, unknown>, at: string, depth: number): void => {
    if (depth > 30) return;
    for (const [k, v] of Object.entries(o)) {
      if (k === '@type') continue;
      const f = type.fields[k];
      if (f === undefined) {
        problems.push(`${at}${k}: no such field in ${type.fullName}`);
        continue;
      }
      f.resolve();
      const t = f.resolvedType;
      const values = f.map ? Object.values(v as object) : f.repeated ? (v as unknown[]) : [v];
      for (const x of values) {
        if (t instanceof protobuf.Enum) {
          if (typeof x !== 'string' || t.values[x] === undefined) problems.push(`${at}${k}: ${String(x)} is no ${t.fullName} value`);
        } else if (t instanceof protobuf.Type && t.fullName === '.google.protobuf.Any') {
          const url = (x as Record<string, unknown>)['@type'] as string;
          walk(r.lookupType(url.slice(url.lastIndexOf('/') + 1)), x as Record<string, unknown>, `${at}${k}.`, depth + 1);
        } else if (t instanceof protobuf.Type && !t.fullName.startsWith('.google.protobuf.')) {
          walk(t, x as Record<string, unknown>, `${at}${k}.`, depth + 1);
        }
      }
    }
  };
  walk(r.lookupType(typeName), obj, '', 0);
  return problems;
}
