// `offsite config` with only a local destination loads no destination SDK and none of the
// heavy libraries that only some configurations need (issue 12's lazy loading): each is
// loaded when its destination, notifier, encryption method or container feature is used.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const CLI = join(import.meta.dirname, '..', 'src', 'cli.ts');
const HEAVY = [
  '@aws-sdk/client-s3',
  '@azure/storage-blob',
  '@azure/identity',
  'webdav',
  'ssh2-sftp-client',
  'ssh2',
  'dropbox',
  '@googleapis/drive',
  'google-auth-library',
  'dockerode',
  'openpgp',
  'age-encryption',
  'handlebars',
  'nodemailer',
  'pino-pretty',
  'mqtt',
];

test('offsite config with a local destination loads no SDK and no heavy library', () => {
  const dir = mkdtempSync(join(tmpdir(), 'offsite-lazy-'));
  try {
    mkdirSync(join(dir, 'archive'));
    const out = join(dir, 'packages.txt');
    const hook = `
      import { registerHooks } from 'node:module';
      import { appendFileSync } from 'node:fs';
      const seen = new Set();
      registerHooks({ resolve(spec, ctx, next) { const r = next(spec, ctx); const m = /node_modules\\/((?:@[^/]+\\/)?[^/]+)/.exec(r.url); if (m) seen.add(m[1]); return r; } });
      process.on('exit', () => appendFileSync(${JSON.stringify(out)}, [...seen].join('\\n')));
    `;
    execFileSync(process.execPath, ['--import', `data:text/javascript,${encodeURIComponent(hook)}`, CLI, 'config'], {
      env: { PATH: process.env.PATH, HOME: dir, BACKUP_ARCHIVE: join(dir, 'archive'), OFFSITE_DOTENV: '/dev/null', LOG_FORMAT: 'json' },
      cwd: dir,
      encoding: 'utf8',
    });
    const loaded = readFileSync(out, 'utf8').split('\n').filter(Boolean);
    assert.ok(loaded.includes('envalid'), `the tracer saw the configuration load: ${loaded.join(', ')}`);
    assert.deepEqual(
      HEAVY.filter((p) => loaded.includes(p)),
      [],
      `loaded: ${loaded.join(', ')}`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
