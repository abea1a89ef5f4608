import { str } from 'envalid';
import { quote, type ConfigIssue } from '../errors.ts';
import { validateSection, positiveDuration, boolean, type Env } from '../config/validate.ts';

/** Settings for stopping containers, exec labels and local pre/post commands. */
export interface ContainersConfig {
  /** Value of `docker-volume-backup.stop-during-backup` that selects containers/services to stop. */
  stopLabel: string;
  /** Value of `docker-volume-backup.stop-during-backup-no-restart` that selects ones stopped and left stopped. */
  noRestartLabel: string;
  /** How long to wait for a Swarm service to reach its replica count. */
  stopServiceTimeoutMs: number;
  /** When set, only containers labelled `docker-volume-backup.exec-label=<this>` run exec commands. */
  execLabel: string;
  /** Write exec command output to the log at info level (else debug). */
  execForwardOutput: boolean;
  /** Docker endpoint from DOCKER_HOST, or null to use /var/run/docker.sock when it exists. */
  docker: DockerEndpoint | null;
  /** Shell command run in offsite's own container before the archive phase ('' = none). */
  preCommand: string;
  /** Shell command run after the archive was written ('' = none). */
  postCommand: string;
  /** DOCKER_API_VERSION (`v1.41`), or '' to let the client choose. */
  dockerApiVersion: string;
  /** Deprecated settings that were read (logged at start-up, printed by print-config). */
  warnings: string[];
}

export type DockerEndpoint = { kind: 'unix'; socketPath: string } | { kind: 'tcp'; host: string; port: number; tls: DockerTls | null };

export interface DockerTls {
  /** Directory with ca.pem, cert.pem, key.pem (DOCKER_CERT_PATH), or '' for system CAs and no client certificate. */
  certPath: string;
  /** Verify the daemon's certificate (DOCKER_TLS_VERIFY set). */
  verify: boolean;
}

export const CONTAINERS_SPEC = {
  BACKUP_STOP_DURING_BACKUP_LABEL: str({ default: 'true', desc: 'value of docker-volume-backup.stop-during-backup on containers to stop' }),
  BACKUP_STOP_DURING_BACKUP_NO_RESTART_LABEL: str({
    default: 'true',
    desc: 'value of docker-volume-backup.stop-during-backup-no-restart on containers to stop and leave stopped',
  }),
  BACKUP_STOP_SERVICE_TIMEOUT: positiveDuration({ default: 5 * 60_000, desc: 'how long to wait for a Swarm service to scale' }),
  EXEC_LABEL: str({ default: '' }),
  EXEC_FORWARD_OUTPUT: boolean({ default: false }),
  DOCKER_HOST: str({ default: '' }),
  DOCKER_TLS_VERIFY: str({ default: '' }),
  DOCKER_CERT_PATH: str({ default: '' }),
  DOCKER_API_VERSION: str({ default: '', desc: "Docker Engine API version the client speaks, e.g. 1.41 (default: the client's)" }),
  BACKUP_STOP_CONTAINER_LABEL: str({ default: '', desc: 'deprecated name of BACKUP_STOP_DURING_BACKUP_LABEL' }),
  BACKUP_PRE_COMMAND: str({ default: '' }),
  BACKUP_POST_COMMAND: str({ default: '' }),
};

/** Variables the Docker client library reads on its own: not offsite's, never warned about. */
export const DOCKER_CLIENT_VARIABLES: readonly string[] = ['DOCKER_CLIENT_TIMEOUT', 'DOCKER_PATH_PREFIX'];

/** DOCKER_TLS_VERIFY as Docker reads it: any value turns verification on, except explicit false forms. */
function tlsVerifyOn(v: string): boolean {
  return v !== '' && !['0', 'false', 'no', 'off'].includes(v.trim().toLowerCase());
}

/** Parse DOCKER_HOST (unix:///path, tcp://host:port, or host:port) into an endpoint. */
export function parseDockerHost(value: string, tlsVerify: string, certPath: string): DockerEndpoint | string {
  const v = value.trim();
  if (v.startsWith('unix://')) {
    const p = v.slice('unix://'.length);
    if (!p.startsWith('/')) return `${quote(value)} has no absolute socket path; expected unix:///var/run/docker.sock`;
    return { kind: 'unix', socketPath: p };
  }
  if (v.startsWith('/')) return { kind: 'unix', socketPath: v };
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(v)?.[1]?.toLowerCase();
  if (scheme && !['tcp', 'http', 'https'].includes(scheme)) {
    return `${quote(value)}: the ${scheme}:// scheme is not supported; expected unix:///path/to/docker.sock or tcp://host:port`;
  }
  let url: URL;
  try {
    url = new URL(scheme ? v.replace(/^[a-z]+:/i, 'tcp:') : `tcp://${v}`);
  } catch {
    return `${quote(value)} is not a Docker address; expected unix:///var/run/docker.sock or tcp://host:2375`;
  }
  if (!url.hostname) return `${quote(value)} has no host; expected tcp://host:port`;
  const verify = tlsVerifyOn(tlsVerify);
  const useTls = scheme === 'https' || verify || certPath !== '' || url.port === '2376';
  const port = url.port ? Number(url.port) : useTls ? 2376 : 2375;
  const host = url.hostname.replace(/^\[|\]$/g, '');
  return { kind: 'tcp', host, port, tls: useTls ? { certPath, verify } : null };
}

export function parseContainers(env: Env, issues: ConfigIssue[]): ContainersConfig | null {
  const before = issues.length;
  const v = validateSection(env, CONTAINERS_SPEC, issues);
  let docker: DockerEndpoint | null = null;
  if (v.DOCKER_HOST) {
    const parsed = parseDockerHost(v.DOCKER_HOST, v.DOCKER_TLS_VERIFY ?? '', v.DOCKER_CERT_PATH ?? '');
    if (typeof parsed === 'string') issues.push({ variable: 'DOCKER_HOST', message: parsed });
    else docker = parsed;
  }
  const warnings: string[] = [];
  let stopLabel = v.BACKUP_STOP_DURING_BACKUP_LABEL;
  if (v.BACKUP_STOP_CONTAINER_LABEL) {
    // offen: the old name replaces the new one, with a warning; both given is an error
    if (env.BACKUP_STOP_DURING_BACKUP_LABEL) {
      issues.push({
        variable: 'BACKUP_STOP_CONTAINER_LABEL',
        message: 'both BACKUP_STOP_DURING_BACKUP_LABEL and BACKUP_STOP_CONTAINER_LABEL are set; keep only BACKUP_STOP_DURING_BACKUP_LABEL',
      });
    } else {
      stopLabel = v.BACKUP_STOP_CONTAINER_LABEL;
      warnings.push(`BACKUP_STOP_CONTAINER_LABEL is deprecated (in offen too); use BACKUP_STOP_DURING_BACKUP_LABEL=${v.BACKUP_STOP_CONTAINER_LABEL} instead`);
    }
  }
  let dockerApiVersion = '';
  if (v.DOCKER_API_VERSION) {
    const m = /^v?(\d+\.\d+)$/.exec(v.DOCKER_API_VERSION.trim());
    if (!m) issues.push({ variable: 'DOCKER_API_VERSION', message: `${quote(v.DOCKER_API_VERSION)} is not a Docker API version; expected e.g. 1.41` });
    else dockerApiVersion = `v${m[1]}`;
  }
  if (issues.length > before) return null;
  return {
    dockerApiVersion,
    warnings,
    stopLabel,
    noRestartLabel: v.BACKUP_STOP_DURING_BACKUP_NO_RESTART_LABEL,
    stopServiceTimeoutMs: v.BACKUP_STOP_SERVICE_TIMEOUT,
    execLabel: v.EXEC_LABEL,
    execForwardOutput: v.EXEC_FORWARD_OUTPUT,
    docker,
    preCommand: v.BACKUP_PRE_COMMAND,
    postCommand: v.BACKUP_POST_COMMAND,
  };
}
