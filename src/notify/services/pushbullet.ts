import { DeliveryError, jsonOf, postJson } from '../http.ts';
import { NotifyUrlError, type BaseServiceConfig, type NotifyService } from '../types.ts';
import { Query, decode } from '../url.ts';
import { titleOf } from './common.ts';

export interface PushbulletConfig extends BaseServiceConfig {
  token: string;
  /** '' = all of the account's devices; `#tag` = channel; an e-mail; else a device iden. */
  targets: string[];
  title: string;
}

export const PUSHES_URL = 'https://api.pushbullet.com/v2/pushes';

export const pushbullet: NotifyService<PushbulletConfig> = {
  schemes: ['pushbullet'],
  parse(url) {
    const token = decode(url.hostname, 'access token');
    if (token.length !== 34) throw new NotifyUrlError('invalid access token: expected 34 characters (pushbullet://ACCESSTOKEN[/target])');
    let path = url.pathname.replace(/^\//, '');
    if (url.hash.length > 1) path += `/${decodeURIComponent(url.hash)}`;
    const targets = path.split('/').map((t) => decode(t, 'target'));
    const q = new Query(url);
    const cfg: PushbulletConfig = { token, targets, title: q.str('title', 'Shoutrrr notification'), secrets: [token] };
    q.finish(['title']);
    return cfg;
  },

  async send(cfg, msg, ctx) {
    const title = titleOf(msg, cfg.title);
    for (const target of cfg.targets) {
      const push = { type: 'note', title, body: msg.message, email: '', channel_tag: '', device_iden: '' };
      if (/.*@.*\..*/.test(target)) push.email = target;
      else if (target.startsWith('#')) push.channel_tag = target.slice(1);
      else push.device_iden = target;
      const res = await postJson(ctx, PUSHES_URL, push, { 'Access-Token': cfg.token });
      const body = jsonOf(res);
      if (!body || body.type !== 'note' || body.active !== true) {
        throw new DeliveryError(`pushbullet did not accept the push${target ? ` for ${target}` : ''}: ${res.text.slice(0, 200)}`);
      }
    }
  },
};
