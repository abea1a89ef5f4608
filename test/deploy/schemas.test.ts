/**
 * deploy/kubernetes/*.yaml validated offline against the Kubernetes JSON schemas (strict: an
 * unknown or misspelled field is an error) and the Prometheus Operator's ServiceMonitor schema,
 * vendored under test/deploy/schemas/ (README there names source and version), with ajv. Every
 * document needs a schema: a new kind in the manifests fails here until its schema is vendored.
 * A deliberately wrong manifest (misspelled field, wrong type) fails, so the check can fail.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { Ajv, type ValidateFunction } from 'ajv';

const ROOT = new URL('../../', import.meta.url).pathname;
const MANIFESTS = join(ROOT, 'deploy', 'kubernetes');
const SCHEMAS = join(ROOT, 'test', 'deploy', 'schemas');
const KUBERNETES = 'kubernetes-v1.32.2-standalone-strict';

/** apiVersion + kind → the vendored schema. */
const SCHEMA_OF: Record<string, string> = {
  'apps/v1 Deployment': `${KUBERNETES}/deployment-apps-v1.json`,
  'v1 Service': `${KUBERNETES}/service-v1.json`,
  'v1 PersistentVolumeClaim': `${KUBERNETES}/persistentvolumeclaim-v1.json`,
  'batch/v1 CronJob': `${KUBERNETES}/cronjob-batch-v1.json`,
  'monitoring.coreos.com/v1 ServiceMonitor': 'crds/monitoring.coreos.com/servicemonitor_v1.json',
};

// Kubernetes' OpenAPI formats (int32, int64, int-or-string, byte, ...) are checked by their types
// here; `x-kubernetes-*` annotations are not validation keywords.
const ajv = new Ajv({ allErrors: true, strict: false, validateFormats: false });
const compiled = new Map<string, ValidateFunction>();
function validatorFor(apiVersion: string, kind: string): ValidateFunction | null {
  const file = SCHEMA_OF[`${apiVersion} ${kind}`];
  if (!file) return null;
  let v = compiled.get(file);
  if (!v) {
    // the generator's "$schema": "http://json-schema.org/schema#" names no draft ajv knows; the schemas are draft-04/07 compatible
    const { $schema: _ignored, ...schema } = JSON.parse(readFileSync(join(SCHEMAS, file), 'utf8')) as Record<string, unknown>;
    v = ajv.compile(schema);
    compiled.set(file, v);
  }
  return v;
}

type Doc = { apiVersion: string; kind: string; metadata: { name: string } } & Record<string, any>;
const docsOf = (file: string): Doc[] => parseAllDocuments(readFileSync(join(MANIFESTS, file), 'utf8')).map((d) => d.toJS() as Doc);

/** The schema's complaints about one object (empty: valid). */
function problems(doc: Doc): string[] {
  const v = validatorFor(doc.apiVersion, doc.kind);
  if (!v) return [`no vendored schema for ${doc.apiVersion} ${doc.kind} (add it under test/deploy/schemas/)`];
  if (v(doc)) return [];
  return (v.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message}${e.params && 'additionalProperty' in e.params ? `: ${String(e.params.additionalProperty)}` : ''}`);
}

const files = readdirSync(MANIFESTS).filter((f) => f.endsWith('.yaml'));

test('every document in deploy/kubernetes/*.yaml is valid against its Kubernetes (strict) or CRD schema', () => {
  assert.deepEqual(files.sort(), ['cronjob.yaml', 'sidecar.yaml']);
  let checked = 0;
  for (const file of files) {
    for (const doc of docsOf(file)) {
      assert.deepEqual(problems(doc), [], `${file}: ${doc.kind} ${doc.metadata?.name}`);
      checked++;
    }
  }
  // sidecar: PVC x2, Deployment, Service, ServiceMonitor; cronjob: PVC, CronJob
  assert.equal(checked, 7);
});

test('a wrong manifest fails: misspelled fields (strict), wrong types, a kind without a schema', () => {
  const deployment = docsOf('sidecar.yaml').find((d) => d.kind === 'Deployment')!;
  const offsite = (d: Doc) => d.spec.template.spec.containers.find((c: { name: string }) => c.name === 'offsite');

  const misspelled = structuredClone(deployment);
  offsite(misspelled).readinessProbes = offsite(misspelled).readinessProbe;
  delete offsite(misspelled).readinessProbe;
  assert.ok(
    problems(misspelled).some((p) => /must NOT have additional properties: readinessProbes/.test(p)),
    problems(misspelled).join('\n'),
  );

  const wrongType = structuredClone(deployment);
  wrongType.spec.replicas = 'one';
  assert.ok(
    problems(wrongType).some((p) => /^\/spec\/replicas must be integer/.test(p)),
    problems(wrongType).join('\n'),
  );

  const cron = docsOf('cronjob.yaml').find((d) => d.kind === 'CronJob')!;
  const badCron = structuredClone(cron);
  badCron.spec.timezone = badCron.spec.timeZone;
  delete badCron.spec.timeZone;
  assert.ok(
    problems(badCron).some((p) => /additional properties: timezone/.test(p)),
    problems(badCron).join('\n'),
  );

  const monitor = docsOf('sidecar.yaml').find((d) => d.kind === 'ServiceMonitor')!;
  const badMonitor = structuredClone(monitor);
  badMonitor.spec.endpoints[0].honorLabel = true;
  assert.ok(
    problems(badMonitor).some((p) => /additional properties: honorLabel/.test(p)),
    problems(badMonitor).join('\n'),
  );

  assert.deepEqual(problems({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x' } }), [
    'no vendored schema for v1 ConfigMap (add it under test/deploy/schemas/)',
  ]);
});
