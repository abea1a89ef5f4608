/** The SSH (SFTP) destination's definition (implementation: sftp.ts). Its kind is SSH, as in docker-volume-backup. */
import { str } from 'envalid';
import { quote, type ConfigIssue } from '../errors.ts';
import { validateSection, integer, list, type Env } from '../config/validate.ts';
import { readBoundedFile } from '../config/files.ts';
import { defineDestination, NETWORK_ERROR } from './definition.ts';

export const DEFAULT_IDENTITY_FILE = '/root/.ssh/id_rsa';

/** SSH/SFTP destination (enabled by SSH_HOST_NAME). */
export interface SftpConfig {
  host: string;
  port: number;
  /** Remote directory; relative paths are relative to the login directory; `.` when unset. */
  remotePath: string;
  user: string;
  password: string;
  /** Private key file (any type OpenSSH writes); used when it exists. */
  identityFile: string;
  /** True when SSH_IDENTITY_FILE was set explicitly: then a missing file is an error, not a skip. */
  identityFileExplicit: boolean;
  identityPassphrase: string;
  /** known_hosts file to verify the server's host key against, or ''. */
  knownHosts: string;
  /** Pinned host key fingerprints (`SHA256:...`); any one matching is accepted. */
  hostKeyFingerprints: string[];
}

export const SFTP_SPEC = {
  SSH_HOST_NAME: str({ default: '', desc: 'SFTP server; enables the SSH destination' }),
  SSH_PORT: integer({ default: 22 }),
  SSH_REMOTE_PATH: str({ default: '' }),
  SSH_USER: str({ default: '' }),
  SSH_PASSWORD: str({ default: '' }),
  SSH_IDENTITY_FILE: str({ default: '' }),
  SSH_IDENTITY_PASSPHRASE: str({ default: '' }),
  SSH_KNOWN_HOSTS: str({ default: '', desc: 'known_hosts file to verify the host key' }),
  SSH_HOST_KEY_FINGERPRINT: list({ default: [], desc: 'pinned host key fingerprint(s), SHA256:...' }),
};

const FINGERPRINT = /^SHA256:[A-Za-z0-9+/]{43}=?$/;

export function parseSftp(env: Env, issues: ConfigIssue[]): SftpConfig | null {
  const before = issues.length;
  const v = validateSection(env, SFTP_SPEC, issues);
  if (!v.SSH_HOST_NAME) return null;
  const port = v.SSH_PORT ?? 22;
  if (v.SSH_PORT !== undefined && (port < 1 || port > 65535)) {
    issues.push({ variable: 'SSH_PORT', message: `${port} is not a TCP port; expected 1-65535` });
  }
  if (!v.SSH_USER) issues.push({ variable: 'SSH_USER', message: 'is required when SSH_HOST_NAME is set' });
  const fps = v.SSH_HOST_KEY_FINGERPRINT ?? [];
  for (const fp of fps) {
    if (!FINGERPRINT.test(fp)) {
      issues.push({
        variable: 'SSH_HOST_KEY_FINGERPRINT',
        message: `${quote(fp)} is not a SHA256 fingerprint; expected SHA256: followed by 43 base64 characters, as printed by: ssh-keyscan HOST | ssh-keygen -lf -`,
      });
    }
  }
  // files named on purpose must be there now, not when the first upload starts (after the archive was built)
  for (const variable of ['SSH_IDENTITY_FILE', 'SSH_KNOWN_HOSTS'] as const) {
    const path = v[variable];
    if (!path) continue;
    const read = readBoundedFile(path);
    if (!read.ok) issues.push({ variable, message: `the file ${path} ${read.problem}` });
  }
  if (issues.length > before) return null;
  return {
    host: v.SSH_HOST_NAME,
    port,
    remotePath: v.SSH_REMOTE_PATH || '.',
    user: v.SSH_USER ?? '',
    password: v.SSH_PASSWORD ?? '',
    identityFile: v.SSH_IDENTITY_FILE || DEFAULT_IDENTITY_FILE,
    identityFileExplicit: Boolean(v.SSH_IDENTITY_FILE),
    identityPassphrase: v.SSH_IDENTITY_PASSPHRASE ?? '',
    knownHosts: v.SSH_KNOWN_HOSTS ?? '',
    hostKeyFingerprints: fps.map((f) => f.replace(/=$/, '')),
  };
}

export const sftp = defineDestination<SftpConfig>({
  kind: 'SSH',
  title: 'SFTP',
  variables: SFTP_SPEC,
  secrets: ['SSH_PASSWORD', 'SSH_IDENTITY_PASSPHRASE'],
  basicAuth: [['SSH_USER', 'SSH_PASSWORD']],
  trigger: 'SSH_HOST_NAME',
  parse: parseSftp,
  async create(config, ctx) {
    const { createSftpDestination } = await import('./sftp.ts');
    return createSftpDestination(config, ctx.log, { timeoutMs: ctx.retry.timeoutMs });
  },
  hints: [
    { test: /host key|fingerprint|known.hosts/i, hint: 'check SSH_HOST_KEY_FINGERPRINT or SSH_KNOWN_HOSTS' },
    {
      test: /authentication|auth.*fail|permission denied \(publickey|All configured authentication methods failed|passphrase/i,
      hint: 'check SSH_USER and SSH_PASSWORD or SSH_IDENTITY_FILE (and SSH_IDENTITY_PASSPHRASE)',
    },
    { test: /No such file|ENOENT|does not exist/i, hint: 'check SSH_REMOTE_PATH (the directory must exist)' },
    { test: /Permission denied|EACCES/i, hint: 'check that SSH_USER may write to SSH_REMOTE_PATH' },
    { test: NETWORK_ERROR, hint: 'check SSH_HOST_NAME and SSH_PORT: is the server reachable from here?' },
  ],
});
