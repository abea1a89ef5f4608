import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { loadConfig } from '../../src/config/index.ts';
import { ConfigError, type ConfigIssue } from '../../src/errors.ts';
import { legacyEmailUrl, parseNotifyConfig, splitUrls } from '../../src/notify/config.ts';
import { redact } from '../../src/redact.ts';

const tmp = mkdtempSync(join(tmpdir(), 'offsite-notify-cfg-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
const NO_TPL = { NOTIFICATION_TEMPLATES_DIR: '' };

function parse(env: Record<string, string>) {
  const issues: ConfigIssue[] = [];
  const cfg = parseNotifyConfig({ ...NO_TPL, ...env }, issues);
  return { cfg, issues };
}

describe('parseNotifyConfig', () => {
  it('splits NOTIFICATION_URLS on commas, trims, skips empties; %2C stays inside a URL', () => {
    assert.deepEqual(splitUrls(' a://x , ,b://y,'), ['a://x', 'b://y']);
    const { cfg, issues } = parse({
      NOTIFICATION_URLS: ' smtp://h/?from=a@example.com&to=b@example.com%2Cc@example.com , ,discord://tok@123 ',
    });
    assert.deepEqual(issues, []);
    assert.deepEqual(
      cfg!.targets.map((t) => t.service),
      ['smtp', 'discord'],
    );
    assert.deepEqual((cfg!.targets[0]!.config as unknown as { to: string[] }).to, ['b@example.com', 'c@example.com']);
    assert.equal(cfg!.level, 'error');
    assert.deepEqual(cfg!.warnings, []);
  });

  it('NOTIFICATION_LEVEL is error (default) or info', () => {
    assert.equal(parse({ NOTIFICATION_LEVEL: 'INFO' }).cfg!.level, 'info');
    const { cfg, issues } = parse({ NOTIFICATION_LEVEL: 'debug' });
    assert.equal(cfg, null);
    assert.deepEqual(issues, [{ variable: 'NOTIFICATION_LEVEL', message: '"debug" is not one of error, info' }]);
  });

  it('an unusable URL is an issue on NOTIFICATION_URLS naming it with secrets masked', () => {
    const { cfg, issues } = parse({ NOTIFICATION_URLS: 'discord://goodtoken@1,slack://hook:s3cr3t-v4lue@webhook,bogus://user:pw123456@h' });
    assert.equal(cfg, null);
    assert.equal(issues.length, 2);
    assert.equal(issues[0]!.variable, 'NOTIFICATION_URLS');
    assert.match(issues[0]!.message, /^entry 2 \(slack:\/\/\*\*\*@webhook\): invalid token/);
    assert.match(issues[1]!.message, /^entry 3 \(bogus:\/\/\*\*\*@h\): unknown service "bogus"/);
    for (const i of issues) assert.doesNotMatch(i.message, /s3cr3t|pw123456/);
  });

  it('registers every URL secret with redact() at parse time', () => {
    parse({ NOTIFICATION_URLS: 'gotify://g.example.com/Abcdefghijklmn1,mattermost://m.example.com/mmhooktoken77' });
    assert.equal(redact('token Abcdefghijklmn1 and mmhooktoken77'), 'token *** and ***');
  });

  it('converts the deprecated EMAIL_* variables to one smtp URL, with a warning', () => {
    const { cfg, issues } = parse({
      EMAIL_NOTIFICATION_RECIPIENT: 'ops@example.com',
      EMAIL_SMTP_HOST: 'mail.example.com',
      EMAIL_SMTP_USERNAME: 'mailer',
      EMAIL_SMTP_PASSWORD: 'p@ss,word',
    });
    assert.deepEqual(issues, []);
    assert.equal(cfg!.targets.length, 1);
    const t = cfg!.targets[0]!;
    assert.equal(t.service, 'smtp');
    assert.deepEqual(
      (({ host, port, username, password, from, to }) => ({ host, port, username, password, from, to }))(t.config as unknown as Record<string, unknown>),
      { host: 'mail.example.com', port: 587, username: 'mailer', password: 'p@ss,word', from: 'noreply@nohost', to: ['ops@example.com'] },
    );
    assert.equal(cfg!.warnings.length, 1);
    assert.match(
      cfg!.warnings[0]!,
      /EMAIL_NOTIFICATION_RECIPIENT, EMAIL_SMTP_HOST, EMAIL_SMTP_USERNAME, EMAIL_SMTP_PASSWORD are deprecated; set NOTIFICATION_URLS=smtp:\/\/mailer:\*\*\*@mail\.example\.com:587\//,
    );
    assert.doesNotMatch(cfg!.warnings[0]!, /p@ss|p%40ss/);
  });

  it('EMAIL_* and NOTIFICATION_URLS add up', () => {
    const { cfg } = parse({
      NOTIFICATION_URLS: 'discord://tok@1',
      EMAIL_NOTIFICATION_RECIPIENT: 'a@example.com',
      EMAIL_SMTP_HOST: 'h',
      EMAIL_SMTP_PORT: '25',
      EMAIL_NOTIFICATION_SENDER: 'me@example.com',
    });
    assert.deepEqual(
      cfg!.targets.map((t) => t.service),
      ['discord', 'smtp'],
    );
    assert.equal(
      legacyEmailUrl(
        { EMAIL_NOTIFICATION_RECIPIENT: 'a@example.com', EMAIL_SMTP_HOST: 'h', EMAIL_SMTP_PORT: '25', EMAIL_NOTIFICATION_SENDER: 'me@example.com' },
        [],
      ),
      'smtp://h:25/?fromaddress=me%40example.com&toaddresses=a%40example.com',
    );
  });

  it('settings accepted but not honoured (skip certificate checks) become start-up warnings', () => {
    const { cfg, issues } = parse({ NOTIFICATION_URLS: 'ntfy://n.example.com/t?disabletlsverification=yes' });
    assert.deepEqual(issues, []);
    assert.match(
      cfg!.warnings[0]!,
      /^NOTIFICATION_URLS entry 1 \(ntfy:\/\/n\.example\.com\/t\?disabletlsverification=yes\): disabletlsverification=yes is not supported.*NODE_EXTRA_CA_CERTS/,
    );
  });

  it('EMAIL_NOTIFICATION_RECIPIENT without EMAIL_SMTP_HOST is an issue', () => {
    const { cfg, issues } = parse({ EMAIL_NOTIFICATION_RECIPIENT: 'a@example.com' });
    assert.equal(cfg, null);
    assert.equal(issues[0]!.variable, 'EMAIL_SMTP_HOST');
  });

  it('NOTIFICATION_TEMPLATES_DIR loads templates; naming a missing directory is an issue', () => {
    const dir = join(tmp, 'tpl');
    rmSync(dir, { recursive: true, force: true });
    const missing = parse({ NOTIFICATION_TEMPLATES_DIR: dir });
    assert.equal(missing.cfg, null);
    assert.equal(missing.issues[0]!.variable, 'NOTIFICATION_TEMPLATES_DIR');
    const d2 = mkdtempSync(join(tmp, 'tpl-'));
    writeFileSync(join(d2, 'title_failure.hbs'), 'down: {{job}}');
    const ok = parse({ NOTIFICATION_TEMPLATES_DIR: d2 });
    assert.deepEqual(ok.issues, []);
    assert.deepEqual(Object.keys(ok.cfg!.templates.compiled), ['title_failure']);
  });
});

describe('wired into loadConfig', () => {
  it('NOTIFICATION_URLS_FILE is read through the config core, and the job carries notify', () => {
    const f = join(tmp, 'urls');
    writeFileSync(f, 'discord://filetoken99@42\n');
    const cfg = loadConfig({ env: { NOTIFICATION_URLS_FILE: f, NOTIFICATION_LEVEL: 'info', OFFSITE_CONF_DIR: '', NOTIFICATION_TEMPLATES_DIR: '' }, cwd: tmp });
    const job = cfg.jobs[0]!;
    assert.equal(job.notify.level, 'info');
    assert.deepEqual(
      job.notify.targets.map((t) => t.redacted),
      ['discord://***@42'],
    );
  });

  it('a bad URL stops start-up with a ConfigError on NOTIFICATION_URLS', () => {
    assert.throws(
      () => loadConfig({ env: { NOTIFICATION_URLS: 'telegram://123:abc@telegram', NOTIFICATION_TEMPLATES_DIR: '' }, cwd: tmp }),
      (e: unknown) => e instanceof ConfigError && e.issues.some((i) => i.variable === 'NOTIFICATION_URLS' && /missing chats=/.test(i.message)),
    );
  });
});
