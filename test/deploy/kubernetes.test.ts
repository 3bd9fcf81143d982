/**
 * The Kubernetes manifests under deploy/kubernetes, checked statically: no cluster or Docker
 * engine is at hand, so what `kubectl apply` and the pods would find out is checked here (the
 * checks are in ./manifest-checks.ts). Each check is also fed a broken copy of a manifest and
 * must report it, so a check that cannot fail does not pass unnoticed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  checkConfigs,
  checkCrds,
  checkDocuments,
  checkMeshContainers,
  checkRbac,
  checkReferences,
  checkServices,
  meshConfigs,
  meshContainers,
  parseManifest,
  rbacNeeds,
  type Manifest,
  type Obj,
} from './manifest-checks.js';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const dir = join(repo, 'deploy', 'kubernetes');
const files = readdirSync(dir).filter((f) => /\.ya?ml$/.test(f)).sort();
const manifests = files.map((f) => parseManifest(`deploy/kubernetes/${f}`, readFileSync(join(dir, f), 'utf8')));

function manifest(name: string): Manifest {
  const m = manifests.find((x) => x.file === `deploy/kubernetes/${name}`);
  assert.ok(m, `deploy/kubernetes/${name} exists`);
  return m;
}

/** A deep copy of one manifest with `edit` applied to the document `kind/name`. */
function broken(name: string, kind: string, docName: string, edit: (doc: Obj) => void): Manifest {
  const m = manifest(name);
  const docs = structuredClone(m.docs);
  const doc = docs.find((d) => d['kind'] === kind && (d['metadata'] as Obj)['name'] === docName);
  assert.ok(doc, `${kind}/${docName} in ${m.file}`);
  edit(doc);
  return { file: m.file, docs };
}

/** The pod spec of a workload document. */
const podSpec = (doc: Obj): Obj => ((doc['spec'] as Obj)['template'] as Obj)['spec'] as Obj;
const container = (doc: Obj, name: string): Obj => (podSpec(doc)['containers'] as Obj[]).find((c) => c['name'] === name)!;
/** Edits the text of a ConfigMap entry. */
const editData = (key: string, from: string | RegExp, to: string) => (doc: Obj) => {
  const data = doc['data'] as Record<string, string>;
  const next = data[key]!.replace(from, to);
  assert.notEqual(next, data[key], `the edit of ${key} applies`);
  data[key] = next;
};

test('the three manifests are there and every document has apiVersion, kind and metadata.name', () => {
  assert.deepEqual(files, ['linkerd-daemonset.yaml', 'linkerd-sidecar.yaml', 'namerd.yaml']);
  for (const m of manifests) assert.deepEqual(checkDocuments(m), [], m.file);
  assert.deepEqual(
    manifests.map((m) => [m.file, m.docs.map((d) => d['kind']).join(' ')]),
    [
      ['deploy/kubernetes/linkerd-daemonset.yaml', 'ServiceAccount Role RoleBinding ConfigMap DaemonSet Service'],
      ['deploy/kubernetes/linkerd-sidecar.yaml', 'ServiceAccount ClusterRole ClusterRoleBinding ConfigMap Deployment Service'],
      ['deploy/kubernetes/namerd.yaml', 'CustomResourceDefinition ServiceAccount ClusterRole ClusterRoleBinding Role RoleBinding ConfigMap Deployment Service'],
    ],
  );
});

test("the linkerd and namerd configs in the ConfigMaps load with Meshwork's loader", () => {
  const found = manifests.flatMap((m) => meshConfigs(m).map((c) => `${m.file} ${c.configMap}/${c.key} ${c.kind}`));
  assert.deepEqual(found, [
    'deploy/kubernetes/linkerd-daemonset.yaml l5d-config/linkerd.yaml linkerd',
    'deploy/kubernetes/linkerd-sidecar.yaml hello-l5d-config/linkerd.yaml linkerd',
    'deploy/kubernetes/namerd.yaml namerd-config/namerd.yaml namerd',
  ]);
  for (const m of manifests) assert.deepEqual(checkConfigs(m), [], m.file);
});

test('meshwork containers: image, args naming a mounted ConfigMap key, ports, env and kubectl proxy', () => {
  const found = manifests.flatMap((m) => meshContainers(m).map((c) => `${c.where} ${JSON.stringify(c.container['args'])}`));
  assert.deepEqual(found, [
    'deploy/kubernetes/linkerd-daemonset.yaml: DaemonSet/l5d: container l5d ["linkerd","/config/linkerd.yaml"]',
    'deploy/kubernetes/linkerd-sidecar.yaml: Deployment/hello: container l5d ["linkerd","/config/linkerd.yaml"]',
    'deploy/kubernetes/namerd.yaml: Deployment/namerd: container namerd ["namerd","/config/namerd.yaml"]',
  ]);
  for (const m of manifests) assert.deepEqual(checkMeshContainers(m), [], m.file);
});

test("Services select a pod template of their file and target that template's ports", () => {
  for (const m of manifests) assert.deepEqual(checkServices(m), [], m.file);
});

test('RBAC: what each ServiceAccount needs, derived from the configs, is granted, and nothing more', () => {
  const needs = manifests.map((m) =>
    [...rbacNeeds(m)].map(([sa, ns]) => `${sa}: ${ns.map((n) => `${n.group || 'core'}/${n.resource} ${n.verbs.join(',')} in ${n.namespace}`).join('; ')}`),
  );
  assert.deepEqual(needs, [
    ['default/l5d: core/endpoints list,watch in default'],
    ['default/hello: core/endpoints list,watch in *; core/services list,watch in *'],
    ['default/namerd: core/endpoints list,watch in *; core/services list,watch in *; l5d.io/dtabs get,list,watch,create,update,delete in default'],
  ]);
  for (const m of manifests) assert.deepEqual(checkRbac(m), [], m.file);
});

test('the DTab CustomResourceDefinition matches src/namerd/stores/k8s.ts and keeps what it writes', () => {
  for (const m of manifests) assert.deepEqual(checkCrds(m), [], m.file);
});

test("interpreters reach namerd's interface through its Service; the daemonset transformer names the linkers' Service", () => {
  assert.deepEqual(checkReferences(manifests), []);
});

test('each check reports a broken copy', async (t) => {
  const cases: Array<{ name: string; check: () => string[]; expect: RegExp }> = [
    {
      name: 'a YAML document without metadata.name',
      check: () => checkDocuments(broken('namerd.yaml', 'Service', 'namerd', (d) => delete (d['metadata'] as Obj)['name'])),
      expect: /^deploy\/kubernetes\/namerd\.yaml: document 9: no metadata\.name$/,
    },
    {
      name: 'a config the loader refuses',
      check: () => checkConfigs(broken('linkerd-daemonset.yaml', 'ConfigMap', 'l5d-config', editData('linkerd.yaml', 'kind: io.l5d.k8s.localnode', 'kind: io.l5d.k8s.localnod'))),
      expect: /routers\[1\]\.interpreter\.transformers\[0\]\.kind: unknown kind 'io\.l5d\.k8s\.localnod'/,
    },
    {
      name: 'the ConfigMap key args name is missing',
      check: () => checkMeshContainers(broken('namerd.yaml', 'ConfigMap', 'namerd-config', (d) => {
        const data = d['data'] as Obj;
        data['config.yaml'] = data['namerd.yaml'];
        delete data['namerd.yaml'];
      })),
      expect: /Deployment\/namerd: container namerd: ConfigMap namerd-config has no namerd config under key namerd\.yaml \(keys: config\.yaml\)/,
    },
    {
      name: 'args run namerd on a linkerd config',
      check: () => checkMeshContainers(broken('linkerd-sidecar.yaml', 'Deployment', 'hello', (d) => (container(d, 'l5d')['args'] = ['namerd', '/config/linkerd.yaml']))),
      expect: /container l5d: args run 'namerd' on \/config\/linkerd\.yaml, which is a linkerd config/,
    },
    {
      name: 'another image',
      check: () => checkMeshContainers(broken('linkerd-sidecar.yaml', 'Deployment', 'hello', (d) => (container(d, 'l5d')['image'] = 'meshwork:latest'))),
      expect: /container l5d: image meshwork:latest, expected meshwork:0\.1\.0/,
    },
    {
      name: 'a server port that is not a containerPort',
      check: () => checkMeshContainers(broken('linkerd-daemonset.yaml', 'DaemonSet', 'l5d', (d) => {
        const p = (container(d, 'l5d')['ports'] as Obj[])[0]!;
        p['containerPort'] = 4150;
        p['hostPort'] = 4150;
      })),
      expect: /container l5d: routers\[0\]\.servers\[0\] \(outgoing\) listens on 4140, which is not a containerPort \(4150, 4141, 9990\)/,
    },
    {
      name: 'a hostPort other than the server port',
      check: () => checkMeshContainers(broken('linkerd-daemonset.yaml', 'DaemonSet', 'l5d', (d) => ((container(d, 'l5d')['ports'] as Obj[])[0]!['hostPort'] = 14140))),
      expect: /container l5d: hostPort 14140 differs from containerPort 4140/,
    },
    {
      name: 'an interface bound to loopback behind a Service',
      check: () => checkMeshContainers(broken('namerd.yaml', 'ConfigMap', 'namerd-config', editData('namerd.yaml', /ip: 0\.0\.0\.0\n  port: 4321/, 'ip: 127.0.0.1\n  port: 4321'))),
      expect: /container namerd: interfaces\[1\] \(io\.l5d\.mesh\) listens on 127\.0\.0\.1:4321, which the Service\/namerd cannot reach/,
    },
    {
      name: 'the env variable a transformer reads is not set',
      check: () => checkMeshContainers(broken('linkerd-daemonset.yaml', 'DaemonSet', 'l5d', (d) => delete container(d, 'l5d')['env'])),
      expect: /the io\.l5d\.k8s\.localnode transformer \(routers\[1\]\.interpreter\.transformers\[0\]\) reads the environment variable NODE_NAME/,
    },
    {
      name: 'no kubectl proxy beside a k8s namer',
      check: () => checkMeshContainers(broken('linkerd-sidecar.yaml', 'Deployment', 'hello', (d) => {
        const spec = podSpec(d);
        spec['containers'] = (spec['containers'] as Obj[]).filter((c) => c['name'] !== 'kubectl');
      })),
      expect: /the io\.l5d\.k8s namer \(namers\[0\]\) reads the Kubernetes API at localhost:8001, and no kubectl proxy container of the pod listens there \(none\)/,
    },
    {
      name: 'a Service selector typo',
      check: () => checkServices(broken('linkerd-daemonset.yaml', 'Service', 'l5d', (d) => ((d['spec'] as Obj)['selector'] = { app: 'l5dd' }))),
      expect: /^deploy\/kubernetes\/linkerd-daemonset\.yaml: Service\/l5d: selector \{"app":"l5dd"\} matches no pod template in this file$/,
    },
    {
      name: 'a Service targetPort no container exposes',
      check: () => checkServices(broken('namerd.yaml', 'Service', 'namerd', (d) => (((d['spec'] as Obj)['ports'] as Obj[])[1]!['targetPort'] = 'grpc'))),
      expect: /Service\/namerd: port mesh targets "grpc", which no container of Deployment\/namerd exposes/,
    },
    {
      name: 'a missing RBAC verb',
      check: () => checkRbac(broken('namerd.yaml', 'Role', 'namerd-dtab-storage', (d) => {
        const rule = (d['rules'] as Obj[])[0]!;
        rule['verbs'] = (rule['verbs'] as string[]).filter((v) => v !== 'create');
      })),
      expect: /^deploy\/kubernetes\/namerd\.yaml: ServiceAccount default\/namerd: the io\.l5d\.k8s storage needs 'create' on dtabs\.l5d\.io in namespace default, which no role bound to it grants$/,
    },
    {
      name: 'a namespaced Role where names carry any namespace',
      check: () => checkRbac(broken('linkerd-sidecar.yaml', 'ClusterRoleBinding', 'meshwork-sidecar-endpoints-reader-hello', (d) => {
        d['kind'] = 'RoleBinding';
        (d['metadata'] as Obj)['namespace'] = 'default';
      })),
      expect: /the io\.l5d\.k8s namer \(namers\[0\]\) needs 'list' on endpoints in every namespace/,
    },
    {
      name: 'a resource no config reads',
      check: () => checkRbac(broken('namerd.yaml', 'ClusterRole', 'namerd-endpoints-reader', (d) => ((d['rules'] as Obj[])[0]!['resources'] = ['endpoints', 'services', 'pods']))),
      expect: /ClusterRole\/namerd-endpoints-reader via ClusterRoleBinding\/namerd-endpoints-reader grants pods, which no config reads/,
    },
    {
      name: 'a write verb no config uses',
      check: () => checkRbac(broken('linkerd-daemonset.yaml', 'Role', 'l5d-endpoints-reader', (d) => ((d['rules'] as Obj[])[0]!['verbs'] = ['get', 'list', 'watch', 'update']))),
      expect: /grants 'update' on endpoints, which no config does/,
    },
    {
      name: 'a CRD version other than the store uses',
      check: () => checkCrds(broken('namerd.yaml', 'CustomResourceDefinition', 'dtabs.l5d.io', (d) => ((((d['spec'] as Obj)['versions'] as Obj[])[0]!)['name'] = 'v1alpha2'))),
      expect: /CustomResourceDefinition\/dtabs\.l5d\.io: versions v1alpha2; the store reads and writes v1alpha1/,
    },
    {
      name: 'a CRD schema that would prune dentries',
      check: () => checkCrds(broken('namerd.yaml', 'CustomResourceDefinition', 'dtabs.l5d.io', (d) => {
        const v = ((d['spec'] as Obj)['versions'] as Obj[])[0]!;
        v['schema'] = { openAPIV3Schema: { type: 'object', properties: { spec: { type: 'object' } } } };
      })),
      expect: /dentries: not in the schema, so Kubernetes would prune it/,
    },
    {
      name: 'no CRD beside the io.l5d.k8s store',
      check: () => {
        const m = manifest('namerd.yaml');
        return checkCrds({ file: m.file, docs: m.docs.filter((d) => d['kind'] !== 'CustomResourceDefinition') });
      },
      expect: /there is no CustomResourceDefinition dtabs\.l5d\.io/,
    },
    {
      name: "an interpreter dst that is not namerd's Service port",
      check: () => checkReferences([
        broken('linkerd-daemonset.yaml', 'ConfigMap', 'l5d-config', editData('linkerd.yaml', 'namerd.default.svc.cluster.local/4321', 'namerd.default.svc.cluster.local/4180')),
        manifest('namerd.yaml'),
      ]),
      expect: /routers\[0\]\.interpreter \(io\.l5d\.mesh\): dst \/\$\/inet\/namerd\.default\.svc\.cluster\.local\/4180 reaches port 4180 of .*container namerd, not a namerd io\.l5d\.mesh interface/,
    },
    {
      name: "a daemonset transformer port the linkers' Service does not name",
      check: () => checkReferences([
        broken('linkerd-daemonset.yaml', 'ConfigMap', 'l5d-config', editData('linkerd.yaml', 'port: incoming', 'port: inbound')),
        manifest('namerd.yaml'),
      ]),
      expect: /\(io\.l5d\.k8s\.daemonset\): Service default\/l5d \(deploy\/kubernetes\/linkerd-daemonset\.yaml\) has no such port/,
    },
  ];
  for (const c of cases) {
    await t.test(c.name, () => {
      const problems = c.check();
      assert.ok(problems.some((p) => c.expect.test(p)), `expected a problem matching ${c.expect}, got:\n${problems.join('\n') || '(none)'}`);
    });
  }
});
