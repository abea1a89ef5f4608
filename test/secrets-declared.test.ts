// Every variable declared secret (destinations, encryption, notifications, ...) is masked in
// every form it can travel in, wherever text leaves the process: `offsite config`, logs,
// errors and notifications. The list comes from the declarations, so a secret added later
// is checked without touching this test.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { loadConfig, secretVariables, knownVariables, declareSecrets } from '../src/config/index.ts';
import { ConfigError } from '../src/errors.ts';
import { redact, isSecretName } from '../src/redact.ts';
import { describeConfigured, destinationDefinitions } from '../src/destinations/registry.ts';
import { parseNotificationUrl } from '../src/notify/router.ts';
import { sendToTargets } from '../src/notify/send.ts';
import { silentLogger } from '../src/log.ts';
import { isolatedEnv, runCli } from './helpers/cli.ts';

/** A distinct value per variable, with characters that change under URL and JSON encoding. */
const valueOf = (name: string) =>
  name.endsWith('_URL')
    ? `https://ping.example.com/${name.toLowerCase().replace(/_/g, '')}-0123456789abcdef`
    : `Sx-${name.toLowerCase().replace(/_/g, '')}-0123456789/+="q&7`;
/** NOTIFICATION_URLS is a URL list: its secret is the password inside the URL. */
const notificationPassword = 'notify-pa55/word+"x';

function secretEnv(): { env: Record<string, string>; values: Map<string, string[]> } {
  const env: Record<string, string> = {};
  const values = new Map<string, string[]>();
  for (const name of secretVariables()) {
    if (name === 'GOOGLE_DRIVE_CREDENTIALS_JSON') {
      // a service account key (checked when loaded): the whole JSON and its private key are secrets
      const key = `-----BEGIN PRIVATE KEY-----\n${valueOf(name)}\n-----END PRIVATE KEY-----\n`;
      env[name] = JSON.stringify({ type: 'service_account', client_email: 'backup@project.iam.gserviceaccount.com', private_key: key });
      values.set(name, [env[name], key]);
    } else if (name === 'NOTIFICATION_URLS') {
      env[name] = `generic+https://bob:${encodeURIComponent(notificationPassword)}@127.0.0.1:9/hook`;
      values.set(name, [notificationPassword]);
    } else {
      env[name] = valueOf(name);
      values.set(name, [env[name]]);
    }
  }
  return { env, values };
}

/** The forms a secret travels in: raw, URL-encoded (percent and form), JSON-escaped. */
function forms(v: string): string[] {
  return [v, encodeURIComponent(v), new URLSearchParams({ x: v }).toString().slice(2), JSON.stringify(v).slice(1, -1)];
}

test('every declared secret is a known variable and is shown as *** by name', () => {
  declareSecrets(); // what loadConfig does first
  const known = knownVariables();
  const secrets = [...secretVariables()];
  assert.ok(secrets.length >= 15, `declared secrets: ${secrets.join(', ')}`);
  for (const name of secrets) {
    assert.ok(known.has(name), `${name} is declared secret but not declared as a variable`);
    assert.equal(isSecretName(name), true, name);
    assert.equal(isSecretName(`${name}_FILE`), false, `${name}_FILE holds a path`);
  }
  // a known variable that is not declared secret is not masked by its name (the pattern is only a fallback)
  assert.equal(isSecretName('SSH_HOST_KEY_FINGERPRINT'), false);
  assert.equal(isSecretName('WEBDAV_USERNAME'), false);
  // names offsite does not declare fall back to the pattern
  assert.equal(isSecretName('GOOGLE_DRIVE_CREDENTIALS_JSON'), true);
  assert.equal(isSecretName('SOME_API_TOKEN'), true);
});

test('each declared secret is masked in every form after loading, in logs, errors, offsite config and notifications', async () => {
  const { env, values } = secretEnv();
  // the HTTP Basic pairs: user names the declarations name
  const users: Record<string, string> = { WEBDAV_USERNAME: 'dav-user', EMAIL_SMTP_USERNAME: 'smtp-user', SSH_USER: 'ssh-user' };
  const dir = mkdtempSync(join(tmpdir(), 'offsite-secrets-'));
  let errorText = '';
  try {
    // every encryption method at once is a configuration error: the secrets are registered before parsing
    loadConfig({ env: { ...env, ...users, OFFSITE_DOTENV: '/dev/null' }, cwd: dir });
  } catch (e) {
    assert.ok(e instanceof ConfigError, String(e));
    errorText = e.issues.map((i) => `${i.variable}: ${i.message}`).join('\n');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  assert.notEqual(errorText, '', 'the configuration (all encryption methods at once) is refused');

  const all = [...values.entries()].flatMap(([name, vs]) => vs.map((v) => [name, v] as const));
  const text = all
    .map(([name, v]) =>
      forms(v)
        .map((f) => `${name}=${f}`)
        .join(' | '),
    )
    .join('\n');
  const masked = redact(text);
  for (const [name, v] of all) for (const f of forms(v)) assert.ok(!masked.includes(f), `${name} leaks as ${f}:\n${masked}`);
  // HTTP Basic tokens of the declared (user, password) pairs
  for (const [user, password] of [
    ['dav-user', env.WEBDAV_PASSWORD!],
    ['smtp-user', env.EMAIL_SMTP_PASSWORD!],
    ['DROPBOX_APP_KEY', ''],
  ] as const) {
    if (!password) continue;
    const token = Buffer.from(`${user}:${password}`).toString('base64');
    assert.ok(!redact(`Authorization: Basic ${token}`).includes(token), `Basic ${user}`);
  }
  const dbx = Buffer.from(`${env.DROPBOX_APP_KEY}:${env.DROPBOX_APP_SECRET}`).toString('base64');
  assert.ok(!redact(`Basic ${dbx}`).includes(dbx), 'Dropbox app key:secret');

  // errors: what the configuration error says
  for (const [name, v] of all) assert.ok(!redact(errorText).includes(v), `${name} in the configuration error`);

  // logs: a pino logger with the process logger's redaction hook
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk, _e, cb) {
      lines.push(String(chunk));
      cb();
    },
  });
  const log = pino(
    {
      hooks: {
        logMethod(args, method) {
          method.apply(this, args.map((a) => (typeof a === 'string' ? redact(a) : JSON.parse(redact(JSON.stringify(a)))) as never) as never);
        },
      },
    },
    sink,
  );
  log.error({ env: Object.fromEntries(all.map(([n, v]) => [n, v])) }, `failed: ${all.map(([, v]) => v).join(' ')}`);
  for (const [name, v] of all) for (const f of forms(v)) assert.ok(!lines.join('').includes(f), `${name} in the log as ${f}`);

  // `offsite config`: each configured destination's declared secrets as ***
  for (const def of destinationDefinitions()) {
    const shown = describeConfigured({ kind: def.kind, config: {} }, env);
    for (const s of def.secrets) assert.equal(shown.variables[s], '***', `${def.kind} ${s}`);
  }

  // notifications: a message that quotes every secret reaches the service masked
  const parsed = parseNotificationUrl('generic+http://127.0.0.1:9/hook');
  assert.ok(parsed.ok);
  let body = '';
  const fetch = (async (_u: unknown, init?: RequestInit) => {
    body = String(init?.body ?? '');
    return new Response('ok', { status: 200 });
  }) as typeof globalThis.fetch;
  await sendToTargets([parsed.target], { title: 'failed', message: all.map(([, v]) => v).join('\n'), level: 'error' }, silentLogger(), { fetch, attempts: 1 });
  assert.notEqual(body, '');
  for (const [name, v] of all) for (const f of forms(v)) assert.ok(!body.includes(f), `${name} in a notification as ${f}:\n${body}`);
});

test('offsite config shows no declared secret (the CLI, every destination configured)', () => {
  const { dir, env } = isolatedEnv();
  const { env: secrets, values } = secretEnv();
  // one encryption method only, so the configuration is valid
  for (const k of [
    'GPG_PUBLIC_KEY_RING',
    'AGE_PASSPHRASE',
    'AGE_PUBLIC_KEYS',
    'BACKUP_ENCRYPTION_KEY',
    'GPG_PRIVATE_KEY',
    'GPG_PRIVATE_KEY_PASSPHRASE',
    'AGE_SECRET_KEYS',
  ]) {
    delete secrets[k];
    values.delete(k);
  }
  const r = runCli(['config', '--json'], {
    ...env,
    ...secrets,
    BACKUP_ARCHIVE: '',
    AWS_S3_BUCKET_NAME: 'b',
    WEBDAV_URL: 'https://dav.example.com/',
    WEBDAV_USERNAME: 'dav-user',
    SSH_HOST_NAME: 'sftp.example.com',
    SSH_USER: 'u',
    AZURE_STORAGE_ACCOUNT_NAME: 'acct',
    AZURE_STORAGE_CONNECTION_STRING: '',
    AZURE_STORAGE_CONTAINER_NAME: 'c',
    EMAIL_SMTP_USERNAME: 'smtp-user',
  });
  rmSync(dir, { recursive: true, force: true });
  assert.equal(r.code, 0, r.stderr);
  const jobs = JSON.parse(r.stdout.slice(r.stdout.indexOf('[\n'))) as Array<{ destinations: Array<{ kind: string }> }>;
  assert.deepEqual(
    jobs[0]!.destinations.map((d) => d.kind),
    ['S3', 'WebDAV', 'SSH', 'Azure', 'Dropbox', 'GoogleDrive'],
  );
  for (const [name, vs] of values)
    for (const v of vs) for (const f of forms(v)) assert.ok(!r.stdout.includes(f) && !r.stderr.includes(f), `${name} shown as ${f}`);
});
