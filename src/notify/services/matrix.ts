import { createHash, randomBytes } from 'node:crypto';
import { DeliveryError, jsonOf, postJson, request } from '../http.ts';
import { NotifyUrlError, type BaseServiceConfig, type NotifyService } from '../types.ts';
import { Query, httpScheme, userinfo } from '../url.ts';
import { titleOf } from './common.ts';

export interface MatrixConfig extends BaseServiceConfig {
  host: string;
  user: string;
  /** Password when a user is given, else the access token. */
  password: string;
  rooms: string[];
  disableTLS: boolean;
  title: string;
}

const API = '/_matrix/client/v3';

export const matrix: NotifyService<MatrixConfig> = {
  schemes: ['matrix'],
  parse(url) {
    const { user, password } = userinfo(url);
    if (!password) throw new NotifyUrlError('missing the password or access token; expected matrix://user:password@host or matrix://:TOKEN@host');
    if (!url.host) throw new NotifyUrlError('missing the homeserver host; expected matrix://user:password@host');
    const q = new Query(url);
    const rooms = q.list(['rooms', 'room']).map((r) => (r[0] !== '#' && r[0] !== '!' ? `#${r}` : r));
    const cfg: MatrixConfig = {
      host: url.host,
      user,
      password,
      rooms,
      disableTLS: q.bool('disableTLS', false),
      title: q.str('title'),
      secrets: [password],
    };
    q.finish(['rooms|room', 'disableTLS', 'title']);
    return cfg;
  },

  async send(cfg, msg, ctx) {
    const base = `${httpScheme(cfg.disableTLS)}://${cfg.host}${API}`;
    let accessToken = cfg.password;
    if (cfg.user) {
      // as the fork: ask which login flows the server offers, and log in with a password only if it offers that
      const flowsRes = await request(ctx, `${base}/login`, { method: 'GET' });
      const flows = Array.isArray(jsonOf(flowsRes)?.flows) ? (jsonOf(flowsRes)!.flows as { type?: unknown }[]).map((f) => String(f?.type)) : [];
      if (!flows.includes('m.login.password')) {
        throw new DeliveryError(
          `matrix: the server does not offer password login (it offers: ${flows.join(', ') || 'nothing'}); use matrix://:ACCESS_TOKEN@host instead`,
        );
      }
      const res = await postJson(ctx, `${base}/login`, {
        type: 'm.login.password',
        identifier: { type: 'm.id.user', user: cfg.user },
        password: cfg.password,
        device_id: deviceId(cfg.user, cfg.host),
      });
      const body = jsonOf(res);
      if (!body || typeof body.access_token !== 'string') throw new DeliveryError('matrix login gave no access token');
      accessToken = body.access_token;
    }
    const auth = { Authorization: `Bearer ${accessToken}` };
    let roomIds: string[] = [];
    const errors: string[] = [];
    if (cfg.rooms.length === 0) {
      const res = await request(ctx, `${base}/joined_rooms`, { method: 'GET', headers: auth });
      const body = jsonOf(res);
      roomIds = Array.isArray(body?.joined_rooms) ? (body.joined_rooms as string[]) : [];
      if (roomIds.length === 0) throw new DeliveryError('matrix: the account has joined no rooms and rooms= is not set');
    } else {
      for (const room of cfg.rooms) {
        if (room.startsWith('!')) {
          roomIds.push(room);
          continue;
        }
        try {
          const res = await postJson(ctx, `${base}/join/${encodeURIComponent(room)}`, {}, auth);
          const id = jsonOf(res)?.room_id;
          if (typeof id !== 'string') throw new DeliveryError('no room_id in the answer');
          roomIds.push(id);
        } catch (err) {
          errors.push(`joining ${room}: ${(err as Error).message}`);
        }
      }
    }
    const title = titleOf(msg, cfg.title);
    const text = title ? `${title}\n\n${msg.message}` : msg.message;
    for (const roomId of roomIds) {
      const txn = `${Date.now()}-${randomBytes(8).toString('hex')}`;
      try {
        await request(ctx, `${base}/rooms/${encodeURIComponent(roomId)}/send/m.room.message/${txn}`, {
          method: 'PUT',
          headers: { 'Content-Type': 'application/json', ...auth },
          body: JSON.stringify({ msgtype: 'm.text', body: text }),
        });
      } catch (err) {
        errors.push(`sending to ${roomId}: ${(err as Error).message}`);
      }
    }
    if (errors.length > 0) throw new DeliveryError(`matrix: ${errors.join('; ')}`);
  },
};

const OPAQUE = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/**
 * The fork's stable device id: `SH` and 8 characters picked by the first bytes of
 * sha256("user:host") (the host without a default port), so repeated logins reuse one device.
 */
export function deviceId(user: string, host: string): string {
  const h = host.replace(/:(443|80)$/, '');
  const hash = createHash('sha256').update(`${user}:${h}`).digest();
  let id = 'SH';
  for (let i = 0; i < 8; i++) id += OPAQUE[hash[i]! % OPAQUE.length];
  return id;
}
