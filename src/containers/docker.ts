import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type Dockerode from 'dockerode';
import { lazy } from '../lazy.ts';

/** Loaded when a Docker feature (stop labels, exec labels, ...) is used. */
const dockerode = lazy<typeof Dockerode>('dockerode');
import { UserError, errorMessage } from '../errors.ts';
import type { DockerEndpoint } from './config.ts';
// not `import ... from 'node:https'`: its ES module facade loads undici at start (see destinations/describe.ts);
// and only for a TLS Docker endpoint (node:https loads tls: ~10 ms at every start otherwise)

export const DEFAULT_DOCKER_SOCKET = '/var/run/docker.sock';

/** Where offsite would talk to Docker, or null when neither DOCKER_HOST nor the default socket is present. */
export function resolveEndpoint(configured: DockerEndpoint | null, defaultSocket = DEFAULT_DOCKER_SOCKET): DockerEndpoint | null {
  if (configured) return configured;
  try {
    statSync(defaultSocket);
    return { kind: 'unix', socketPath: defaultSocket };
  } catch {
    return null;
  }
}

/** Human description of an endpoint for log lines (no secrets in it). */
export function describeEndpoint(e: DockerEndpoint): string {
  return e.kind === 'unix' ? `unix://${e.socketPath}` : `${e.tls ? 'https' : 'http'}://${e.host}:${e.port}`;
}

/**
 * A Dockerode client for an endpoint. Every connection option is given
 * explicitly so the process environment (which docker-modem reads by default)
 * cannot override the job's own settings.
 */
export function connectDocker(e: DockerEndpoint, apiVersion = ''): Dockerode {
  // DOCKER_API_VERSION: every request goes to /v1.xx/... (dockerode's `version`)
  const version = apiVersion || undefined;
  if (e.kind === 'unix') {
    return new (dockerode())({
      socketPath: e.socketPath,
      host: undefined,
      port: undefined,
      protocol: 'http',
      ca: undefined,
      cert: undefined,
      key: undefined,
      version,
    });
  }
  if (!e.tls) {
    return new (dockerode())({ socketPath: undefined, host: e.host, port: e.port, protocol: 'http', ca: undefined, cert: undefined, key: undefined, version });
  }
  let ca: Buffer | undefined;
  let cert: Buffer | undefined;
  let key: Buffer | undefined;
  if (e.tls.certPath) {
    try {
      ca = readFileSync(join(e.tls.certPath, 'ca.pem'));
      cert = readFileSync(join(e.tls.certPath, 'cert.pem'));
      key = readFileSync(join(e.tls.certPath, 'key.pem'));
    } catch (err) {
      throw new UserError(
        `cannot read the Docker TLS files in ${e.tls.certPath}: ${errorMessage(err)}`,
        'DOCKER_CERT_PATH must be a directory holding ca.pem, cert.pem and key.pem',
      );
    }
  }
  const { Agent } = process.getBuiltinModule('node:https');
  const agent = new Agent({ ca, cert, key, rejectUnauthorized: e.tls.verify, keepAlive: false });
  return new (dockerode())({ socketPath: undefined, host: e.host, port: e.port, protocol: 'https', ca, cert, key, agent, version } as Dockerode.DockerOptions);
}

/** Status code of a docker-modem error, if it has one. */
export function statusOf(err: unknown): number | undefined {
  const s = (err as { statusCode?: unknown } | null)?.statusCode;
  return typeof s === 'number' ? s : undefined;
}

/** A docker-modem error as one readable line: `(HTTP code 404) no such container - No such container: x` -> kept, trailing space trimmed. */
export function dockerError(err: unknown): string {
  const message = errorMessage(err).trim();
  // a proxy's HTML error page (HAProxy's `<html><body><h1>403 Forbidden</h1>...`) as its text
  if (!/<(html|body|h1)\b/i.test(message)) return message;
  return message
    .replace(/<[^>]*>/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
}
