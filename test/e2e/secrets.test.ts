/**
 * Secrets never leave the process: `offsite backup` and `offsite config` run as the CLI with
 * real-looking secrets for every destination, encryption and the notification URL, against a
 * hostile server that answers every request with an error whose body echoes the request
 * (URL, headers, body), as some proxies and misconfigured servers do. No secret (raw,
 * URL-encoded or as an HTTP Basic token) may appear in stdout, stderr or a notification.
 */
import assert from 'node:assert/strict';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { isolatedEnv, runCliAsync } from '../helpers/cli.ts';
import { startRecorder, type HttpRecorder, type RecordedRequest, type Reply } from '../servers/http-recorder.ts';

const hostile: HttpRecorder = await startRecorder();
const notify: HttpRecorder = await startRecorder();
const dirs: string[] = [];
after(async () => {
  await hostile.close();
  await notify.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

// Echo the whole request back in an error: whatever the client sent may end up in its error message.
const echoHandler = (req: RecordedRequest): Reply => {
  const echo = `${req.method} ${req.path}?${req.query.toString()} ${JSON.stringify(req.headers)} ${req.body.slice(0, 2000)}`;
  const xml = `<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>${echo.replace(/[<&>]/g, ' ')}</Message></Error>`;
  if (req.headers['content-type']?.includes('json') || req.path.startsWith('/2/') || req.path.startsWith('/oauth2')) {
    return { status: 401, headers: { 'content-type': 'application/json' }, body: { error: 'invalid_grant', error_description: echo, error_summary: echo } };
  }
  return { status: 403, headers: { 'content-type': 'application/xml' }, body: xml };
};

const SECRETS = {
  AWS_ACCESS_KEY_ID: 'AKIAZZSECRETACCESSID7',
  AWS_SECRET_ACCESS_KEY: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYsecretAWS99',
  WEBDAV_PASSWORD: 'dav-pa55word-Secret!',
  AZURE_STORAGE_PRIMARY_ACCOUNT_KEY: Buffer.from('azure-account-key-secret-material-0123456789').toString('base64'),
  DROPBOX_APP_KEY: 'dbxappkeysecret1',
  DROPBOX_APP_SECRET: 'dbxappsecretvalue2',
  DROPBOX_REFRESH_TOKEN: 'dbx-refresh-token-secret-3-abcdefghijklmnop',
  GPG_PASSPHRASE: 'gpg passphrase secret 4',
  NOTIFY_TOKEN: 'notifytokensecret5xyz',
} as const;

/** Every form a secret could leak in. */
function forms(s: string): string[] {
  return [s, encodeURIComponent(s)];
}

function assertClean(where: string, text: string, extra: string[] = []): void {
  for (const [name, s] of Object.entries(SECRETS)) {
    for (const f of forms(s)) assert.ok(!text.includes(f), `${where} contains ${name} (${f}):\n${text.slice(0, 4000)}`);
  }
  for (const f of extra) assert.ok(!text.includes(f), `${where} contains ${f}:\n${text.slice(0, 4000)}`);
}

function setup(destination: Record<string, string>) {
  const { dir, env } = isolatedEnv();
  dirs.push(dir);
  const src = join(dir, 'src');
  mkdirSync(src);
  writeFileSync(join(src, 'data.txt'), 'important data');
  return {
    dir,
    env: {
      ...env,
      BACKUP_SOURCES: src,
      BACKUP_ARCHIVE: '', // no local copy
      BACKUP_RETRY_ATTEMPTS: '1',
      BACKUP_DESTINATION_TIMEOUT: '10s',
      GPG_PASSPHRASE: SECRETS.GPG_PASSPHRASE,
      NOTIFICATION_URLS: `generic+http://${notify.host}/hook?token=${SECRETS.NOTIFY_TOKEN}&template=json`,
      NOTIFICATION_LEVEL: 'error',
      ...destination,
    },
  };
}

const basic = (user: string, pass: string) => Buffer.from(`${user}:${pass}`).toString('base64');

const CASES: { name: string; env: () => Record<string, string>; extra?: string[] }[] = [
  {
    name: 'S3',
    env: () => ({
      AWS_S3_BUCKET_NAME: 'bucket',
      AWS_ENDPOINT: hostile.host,
      AWS_ENDPOINT_PROTO: 'http',
      AWS_ACCESS_KEY_ID: SECRETS.AWS_ACCESS_KEY_ID,
      AWS_SECRET_ACCESS_KEY: SECRETS.AWS_SECRET_ACCESS_KEY,
    }),
  },
  {
    name: 'WebDAV',
    env: () => ({ WEBDAV_URL: `${hostile.url}/dav`, WEBDAV_USERNAME: 'me', WEBDAV_PASSWORD: SECRETS.WEBDAV_PASSWORD }),
    extra: [basic('me', SECRETS.WEBDAV_PASSWORD)],
  },
  {
    name: 'Azure',
    env: () => ({
      AZURE_STORAGE_ACCOUNT_NAME: 'acct',
      AZURE_STORAGE_PRIMARY_ACCOUNT_KEY: SECRETS.AZURE_STORAGE_PRIMARY_ACCOUNT_KEY,
      AZURE_STORAGE_CONTAINER_NAME: 'backups',
      AZURE_STORAGE_ENDPOINT: `${hostile.url}/{{ .AccountName }}/`,
    }),
  },
  {
    name: 'Dropbox',
    env: () => ({
      DROPBOX_APP_KEY: SECRETS.DROPBOX_APP_KEY,
      DROPBOX_APP_SECRET: SECRETS.DROPBOX_APP_SECRET,
      DROPBOX_REFRESH_TOKEN: SECRETS.DROPBOX_REFRESH_TOKEN,
      DROPBOX_ENDPOINT: `${hostile.url}/`,
      DROPBOX_OAUTH2_ENDPOINT: `${hostile.url}/`,
    }),
    extra: [basic(SECRETS.DROPBOX_APP_KEY, SECRETS.DROPBOX_APP_SECRET)],
  },
];

describe('a Dropbox access token obtained at run time never leaves the process', () => {
  it('the API echoes the bearer token in its errors', async () => {
    const ACCESS = 'sl.dbx-short-lived-access-token-secret-6';
    notify.reset();
    hostile.reset();
    hostile.handle((req) => {
      if (req.path.includes('oauth2/token')) return { status: 200, body: { access_token: ACCESS, token_type: 'bearer', expires_in: 14400 } };
      const echo = `${req.method} ${req.path} auth=${String(req.headers.authorization)}`;
      return {
        status: 409,
        body: { error_summary: `path/conflict/ ${echo}`, error: { '.tag': 'path', path: { '.tag': 'conflict' } }, user_message: { text: echo } },
      };
    });
    const { env } = setup({
      DROPBOX_APP_KEY: SECRETS.DROPBOX_APP_KEY,
      DROPBOX_APP_SECRET: SECRETS.DROPBOX_APP_SECRET,
      DROPBOX_REFRESH_TOKEN: SECRETS.DROPBOX_REFRESH_TOKEN,
      DROPBOX_ENDPOINT: `${hostile.url}/`,
      DROPBOX_OAUTH2_ENDPOINT: `${hostile.url}/`,
    });
    const r = await runCliAsync(['backup'], env, { timeoutMs: 90_000 });
    assert.equal(r.code, 1, `exit code\n${r.stdout}\n${r.stderr}`);
    assert.ok(
      hostile.requests.some((q) => String(q.headers.authorization ?? '').includes(ACCESS)),
      'the token was used',
    );
    assertClean('stdout', r.stdout, [ACCESS]);
    assertClean('stderr', r.stderr, [ACCESS]);
    assert.equal(notify.requests.length, 1, `one notification\n${r.stdout}`);
    assertClean('notification body', notify.requests[0]!.body, [ACCESS]);
  });
});

describe('no secret leaves the process when a destination refuses', () => {
  for (const c of CASES) {
    it(`${c.name}: backup fails (exit 1) and stdout, stderr and the notification are clean`, async () => {
      notify.reset();
      hostile.reset();
      hostile.handle(echoHandler);
      const { env } = setup(c.env());
      const r = await runCliAsync(['backup'], env, { timeoutMs: 90_000 });
      assert.equal(r.code, 1, `exit code\n${r.stdout}\n${r.stderr}`);
      assert.ok(hostile.requests.length > 0, `the destination was contacted\n${r.stdout}\n${r.stderr}`);
      assertClean('stdout', r.stdout, c.extra);
      assertClean('stderr', r.stderr, c.extra);
      assert.equal(notify.requests.length, 1, `one notification\n${r.stdout}`);
      const n = notify.requests[0]!;
      assert.match(n.body, /fail/i);
      assertClean('notification body', n.body, c.extra);

      const cfg = await runCliAsync(['config'], env, { timeoutMs: 90_000 });
      assert.equal(cfg.code, 0, cfg.stderr);
      assertClean('config output', cfg.stdout + cfg.stderr, c.extra);
    });
  }
});

describe('list, verify and notify-test never print a secret a server echoes', () => {
  const dropbox = () => ({
    DROPBOX_APP_KEY: SECRETS.DROPBOX_APP_KEY,
    DROPBOX_APP_SECRET: SECRETS.DROPBOX_APP_SECRET,
    DROPBOX_REFRESH_TOKEN: SECRETS.DROPBOX_REFRESH_TOKEN,
    DROPBOX_ENDPOINT: `${hostile.url}/`,
    DROPBOX_OAUTH2_ENDPOINT: `${hostile.url}/`,
  });
  for (const command of [['list'], ['list', '--json'], ['verify', 'latest']]) {
    it(`Dropbox: \`offsite ${command.join(' ')}\` fails and its output is clean`, async () => {
      hostile.reset();
      hostile.handle(echoHandler);
      const { env } = setup(dropbox());
      const r = await runCliAsync(command, env, { timeoutMs: 90_000 });
      assert.notEqual(r.code, 0, `exit code\n${r.stdout}\n${r.stderr}`);
      assert.ok(hostile.requests.length > 0, `the destination was contacted\n${r.stdout}\n${r.stderr}`);
      const sent = hostile.requests.map((q) => `${q.path}?${q.query.toString()} ${JSON.stringify(q.headers)} ${q.body}`).join('\n');
      assert.ok(sent.includes(SECRETS.DROPBOX_REFRESH_TOKEN), `the refresh token was sent (and echoed):\n${sent}`);
      assertClean('stdout', r.stdout, [basic(SECRETS.DROPBOX_APP_KEY, SECRETS.DROPBOX_APP_SECRET)]);
      assertClean('stderr', r.stderr, [basic(SECRETS.DROPBOX_APP_KEY, SECRETS.DROPBOX_APP_SECRET)]);
      assert.match(r.stdout + r.stderr, /Dropbox/, 'the error still says which destination failed');
    });
  }

  it('ntfy: a Basic-auth header echoed in the notification error does not reveal the password; the URL keeps its host', async () => {
    notify.reset();
    notify.handle((req) => ({
      status: 403,
      headers: { 'content-type': 'application/json' },
      body: { error: `forbidden auth=${String(req.headers.authorization)}` },
    }));
    const password = 'ntfy-Pa55word-secret';
    const { env } = setup({ NOTIFICATION_URLS: `ntfy://alice:${password}@${notify.host}/alerts?disabletls=yes` });
    const r = await runCliAsync(['notify-test'], env, { timeoutMs: 90_000 });
    assert.equal(r.code, 1, `${r.stdout}\n${r.stderr}`);
    assert.ok(
      notify.requests.some((q) => String(q.headers.authorization ?? '') === `Basic ${basic('alice', password)}`),
      'Basic auth was sent',
    );
    const out = r.stdout + r.stderr;
    assert.match(out, /forbidden/, 'the server answer is shown');
    for (const f of [password, basic('alice', password)]) assert.ok(!out.includes(f), `output contains ${f}:\n${out}`);
    assert.match(out, new RegExp(`ntfy://alice:\\*\\*\\*@${notify.host.replace(/\./g, '\\.')}/alerts`), out);
  });

  it('generic webhook: the path token is masked everywhere', async () => {
    notify.reset();
    notify.handle((req) => ({ status: 500, body: `cannot deliver to ${req.path}` }));
    const token = 'pathtokensecretwebhookid';
    const { env } = setup({ NOTIFICATION_URLS: `generic+http://${notify.host}/api/webhook/${token}` });
    const r = await runCliAsync(['notify-test'], env, { timeoutMs: 90_000 });
    assert.equal(r.code, 1, `${r.stdout}\n${r.stderr}`);
    assert.equal(notify.requests[0]?.path, `/api/webhook/${token}`);
    const out = r.stdout + r.stderr;
    assert.ok(!out.includes(token), out);
    assert.match(out, new RegExp(`generic\\+http://${notify.host.replace(/\./g, '\\.')}/api/webhook/\\*\\*\\*`), out);
  });
});
