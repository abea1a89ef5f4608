import { retryLoop } from '../../retry.ts';
import type { IClientOptions, MqttClient } from 'mqtt';
import { DeliveryError, formatMs, notifyBackoff } from '../http.ts';
import { NotifyUrlError, type BaseServiceConfig, type NotifyService, type SendContext } from '../types.ts';
import { Query, decode, userinfo } from '../url.ts';

export interface MqttConfig extends BaseServiceConfig {
  /** `mqtts` uses TLS (unless disabletls=yes). */
  tls: boolean;
  host: string;
  port: number;
  topic: string;
  username: string;
  password: string;
  clientId: string;
  qos: 0 | 1 | 2;
  retained: boolean;
  cleanSession: boolean;
  skipTLSVerify: boolean;
}

const EXAMPLE = 'mqtt://[user:password@]host[:port]/topic (mqtts:// for TLS)';
const KEYS = ['clientid', 'qos', 'retained', 'cleansession', 'disabletls', 'disabletlsverification'];
/** As the fork's paho client: MQTT 5, keep-alive 20 s, session expiry 60 s. */
const KEEPALIVE_S = 20;
const SESSION_EXPIRY_S = 60;

function qosOf(v: string): 0 | 1 | 2 {
  switch (v.trim().toLowerCase()) {
    case '':
    case '0':
    case 'atmostonce':
    case 'at_most_once':
      return 0;
    case '1':
    case 'atleastonce':
    case 'at_least_once':
      return 1;
    case '2':
    case 'exactlyonce':
    case 'exactly_once':
      return 2;
    default:
      throw new NotifyUrlError(`qos=${v} is not 0, 1 or 2 (AtMostOnce, AtLeastOnce, ExactlyOnce)`);
  }
}

/** Errors worth another try: the broker was not reachable (nothing was published). */
function transient(err: unknown): boolean {
  const code = (err as { code?: unknown })?.code;
  return code === 'ECONNREFUSED' || code === 'ECONNRESET' || code === 'EHOSTUNREACH' || code === 'ENETUNREACH' || code === 'EAI_AGAIN';
}

/** Connect, publish once and disconnect, all within one timeout. */
async function publishOnce(cfg: MqttConfig, payload: string, ctx: SendContext): Promise<void> {
  // loaded only when an mqtt URL is used
  const { connect } = await import('mqtt');
  const where = `${cfg.host}:${cfg.port}`;
  const opts: IClientOptions = {
    protocol: cfg.tls ? 'mqtts' : 'mqtt',
    host: cfg.host,
    port: cfg.port,
    protocolVersion: 5,
    clientId: cfg.clientId,
    clean: cfg.cleanSession,
    keepalive: KEEPALIVE_S,
    properties: { sessionExpiryInterval: SESSION_EXPIRY_S },
    reconnectPeriod: 0,
    connectTimeout: ctx.timeoutMs,
    ...(cfg.username ? { username: cfg.username, password: cfg.password || undefined } : {}),
    ...(cfg.tls ? { rejectUnauthorized: !cfg.skipTLSVerify, ...(ctx.ca ? { ca: ctx.ca } : {}) } : {}),
  };
  let client: MqttClient | undefined;
  const stop = AbortSignal.any([ctx.signal, AbortSignal.timeout(ctx.timeoutMs)]);
  try {
    await new Promise<void>((resolve, reject) => {
      const fail = (err: unknown) => reject(err);
      const onAbort = () => reject(stop.reason);
      if (stop.aborted) return onAbort();
      stop.addEventListener('abort', onAbort, { once: true });
      client = connect(opts);
      client.once('connect', () => {
        client!.publish(cfg.topic, payload, { qos: cfg.qos, retain: cfg.retained }, (err) => (err ? fail(err) : resolve()));
      });
      client.once('error', fail);
      client.once('close', () => fail(new Error('the broker closed the connection')));
    });
  } catch (err) {
    if (ctx.signal.aborted)
      throw new DeliveryError(`mqtt to ${where} was stopped: ${ctx.signal.reason instanceof Error ? ctx.signal.reason.message : 'aborted'}`);
    if (stop.aborted) throw new DeliveryError(`mqtt to ${where} got no answer within ${formatMs(ctx.timeoutMs)}`);
    const e = err as { message?: string; code?: unknown };
    const error = new DeliveryError(`mqtt to ${where}, topic ${cfg.topic}: ${e.message ?? String(err)}`);
    (error as unknown as { code?: unknown }).code = e.code;
    throw error;
  } finally {
    const c = client as MqttClient | undefined;
    if (c) {
      c.removeAllListeners();
      c.on('error', () => {
        /* after the outcome is known, errors are only noise */
      });
      // a clean DISCONNECT when connected, bounded; else drop the socket
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => {
          c.end(true);
          resolve();
        }, 2000);
        c.end(!c.connected, {}, () => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }
}

/** `mqtt://` / `mqtts://`: publishes the text to a topic on an MQTT 5 broker (the fork's mqtt). */
export const mqtt: NotifyService<MqttConfig> = {
  schemes: ['mqtt', 'mqtts'],
  parse(url) {
    const tlsScheme = url.protocol.toLowerCase() === 'mqtts:';
    const { user, password } = userinfo(url);
    if (password && !user) throw new NotifyUrlError('a password without a user name; expected mqtt://user:password@host/topic');
    const topic = decode(url.pathname.replace(/^\//, ''), 'topic');
    if (!topic) throw new NotifyUrlError(`missing the topic; expected ${EXAMPLE}`);
    if (/[#+]/.test(topic)) throw new NotifyUrlError(`topic ${topic} has a wildcard (# or +); a message is published to one topic`);
    const q = new Query(url);
    const disableTLS = q.bool('disabletls', false);
    const cfg: MqttConfig = {
      tls: tlsScheme && !disableTLS,
      host: decode(url.hostname, 'host') || 'localhost',
      port: url.port ? parseInt(url.port, 10) : tlsScheme ? 8883 : 1883,
      topic,
      username: user,
      password,
      clientId: q.str('clientid', 'shoutrrr'),
      qos: qosOf(q.str('qos')),
      retained: q.bool('retained', false),
      cleanSession: q.bool('cleansession', true),
      skipTLSVerify: q.bool('disabletlsverification', false),
      secrets: password ? [password] : [],
    };
    q.finish(KEYS);
    return cfg;
  },

  async send(cfg, msg, ctx) {
    // the payload is the text; the title is dropped (the fork publishes the message only)
    await retryLoop(
      () => {
        ctx.attempts++;
        return publishOnce(cfg, msg.message, ctx);
      },
      {
        signal: ctx.signal,
        stopped: (_wait, err) => err,
        next(err, attempt) {
          if (ctx.signal.aborted || !transient(err) || attempt >= ctx.retry.attempts) {
            throw attempt > 1 ? new DeliveryError(`${(err as Error).message} (gave up after ${attempt} tries)`) : err;
          }
          const delay = notifyBackoff(ctx, attempt);
          ctx.log.debug({ attempt, delayMs: delay }, `notification: retrying: ${(err as Error).message}`);
          return delay;
        },
      },
    );
  },
};
