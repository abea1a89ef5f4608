// A throwaway destination registered at run time is derived everywhere the list is used:
// the README's "Writing a destination" steps, checked.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { str } from 'envalid';
import { defineDestination } from '../../src/destinations/definition.ts';
import {
  registerDestination,
  destinationKinds,
  createDestinations,
  describeConfigured,
  noDestinationHint,
  remoteDestinationTitles,
} from '../../src/destinations/registry.ts';
import { loadConfig, knownVariables, parseJob } from '../../src/config/index.ts';
import { usage } from '../../src/cli-spec.ts';
import { hintFor } from '../../src/run/hints.ts';
import { classify } from '../../src/destinations/retry.ts';
import type { ConfigIssue } from '../../src/errors.ts';
import type { Destination } from '../../src/destinations/types.ts';
import { silentLogger } from '../../src/log.ts';

interface MemoConfig {
  bucket: string;
  token: string;
}

const created: MemoConfig[] = [];
const memo = defineDestination<MemoConfig>({
  kind: 'Memo',
  title: 'Memo Cloud',
  variables: {
    MEMO_BUCKET: str({ default: '', desc: 'enables the Memo destination' }),
    MEMO_TOKEN: str({ default: '', desc: 'API token' }),
  },
  secrets: ['MEMO_TOKEN'],
  trigger: 'MEMO_BUCKET',
  parse(env, issues) {
    if (!env.MEMO_BUCKET) return null;
    if (!env.MEMO_TOKEN) {
      issues.push({ variable: 'MEMO_TOKEN', message: 'is required when MEMO_BUCKET is set' });
      return null;
    }
    return { bucket: env.MEMO_BUCKET, token: env.MEMO_TOKEN };
  },
  async create(config) {
    created.push(config);
    const d: Destination = {
      name: 'Memo',
      location: `memo://${config.bucket}`,
      async upload() {
        /* nothing */
      },
      async list() {
        return [];
      },
      async remove() {
        /* nothing */
      },
      async download() {
        throw new Error('empty');
      },
      async close() {
        /* nothing */
      },
    };
    return d;
  },
  hints: [{ test: /quota/i, hint: 'the Memo bucket is full' }],
  errorCodes: { transient: ['MemoBusy'], permanent: ['MemoNoSuchBucket'] },
});

test('a registered destination is derived everywhere: kinds, variables, config, usage, hints, secrets', async (t) => {
  const unregister = registerDestination(memo);
  t.after(unregister);
  assert.ok(destinationKinds().includes('Memo'));
  assert.ok(knownVariables().has('MEMO_BUCKET') && knownVariables().has('MEMO_TOKEN'));
  assert.match(usage('0.0.0'), /Memo Cloud/);
  assert.match(remoteDestinationTitles(), /Memo Cloud/);
  assert.match(noDestinationHint(), /Memo Cloud \(MEMO_BUCKET\)/);
  assert.equal(hintFor('Memo', 'upload failed: quota exceeded'), 'the Memo bucket is full');
  // its service's error codes decide retries
  assert.equal(classify(Object.assign(new Error('busy'), { code: 'MemoBusy' })).transient, true);
  assert.equal(classify(Object.assign(new Error('no bucket'), { code: 'MemoNoSuchBucket', status: 503 })).transient, false);

  // parsed from a job's environment, built lazily, and its kind is accepted where kinds are
  const issues: ConfigIssue[] = [];
  const env = { MEMO_BUCKET: 'b1', MEMO_TOKEN: 'memo-token-secret-123', BACKUP_SKIP_BACKENDS_FROM_PRUNE: 'memo' };
  const job = parseJob('default', 'environment', env, issues, () => false);
  assert.deepEqual(issues, []);
  assert.deepEqual(
    job!.destinations.map((d) => d.kind),
    ['Memo'],
  );
  assert.deepEqual(job!.retention.skipBackends, ['Memo']);
  const ds = await createDestinations(job!, silentLogger());
  assert.deepEqual(
    ds.map((d) => [d.name, d.location]),
    [['Memo', 'memo://b1']],
  );
  assert.deepEqual(created, [{ bucket: 'b1', token: 'memo-token-secret-123' }]);

  // its problems name its variable; a typo of its variables is warned about with the nearest name
  const bad: ConfigIssue[] = [];
  parseJob('default', 'environment', { MEMO_BUCKET: 'b1' }, bad, () => false);
  assert.deepEqual(
    bad.map((i) => i.variable),
    ['MEMO_TOKEN'],
  );
  const cfg = loadConfig({
    env: { MEMO_BUCKET: 'b1', MEMO_TOKEN: 'memo-token-secret-123', MEMO_BUKET: 'x', OFFSITE_DOTENV: '/dev/null' },
    cwd: '/nonexistent',
  });
  assert.match(cfg.warnings.map((w) => `${w.variable}: ${w.message}`).join('\n'), /MEMO_BUKET: .*did you mean MEMO_BUCKET/);

  // `offsite config` shows it with its declared secret masked
  assert.deepEqual(describeConfigured(job!.destinations[0]!, env), { kind: 'Memo', variables: { MEMO_BUCKET: 'b1', MEMO_TOKEN: '***' } });
});

test('without its definition, its error codes mean nothing to the retry engine', () => {
  assert.equal(classify(Object.assign(new Error('busy'), { code: 'MemoBusy' })).transient, false);
});

test('a kind is registered once', (t) => {
  const unregister = registerDestination(memo);
  t.after(unregister);
  assert.throws(() => registerDestination({ ...memo, kind: 'memo' }), /registered twice/);
});
