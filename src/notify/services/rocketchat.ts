import { postJson } from '../http.ts';
import { NotifyUrlError, type BaseServiceConfig, type NotifyService } from '../types.ts';
import { decode } from '../url.ts';

export interface RocketchatConfig extends BaseServiceConfig {
  host: string;
  tokenA: string;
  tokenB: string;
  channel: string;
  username: string;
}

export const rocketchat: NotifyService<RocketchatConfig> = {
  schemes: ['rocketchat'],
  parse(url) {
    const path = url.pathname.split('/');
    if (!url.host) throw new NotifyUrlError('missing the server host; expected rocketchat://[username@]host/TOKENA/TOKENB[/channel]');
    const tokenA = decode(path[1] ?? '', 'token');
    const tokenB = decode(path[2] ?? '', 'token');
    if (!tokenA || !tokenB) throw new NotifyUrlError('missing the webhook tokens; expected rocketchat://[username@]host/TOKENA/TOKENB[/channel]');
    let channel = '';
    const fragment = decode(url.hash.replace(/^#/, ''), 'channel');
    const seg = decode(path[3] ?? '', 'channel');
    if (fragment) channel = `#${fragment}`;
    else if (seg) channel = seg.startsWith('@') ? seg : `#${seg}`;
    // Query keys are ignored, as shoutrrr's rocketchat does.
    return { host: url.host, tokenA, tokenB, channel, username: decode(url.username, 'user name'), secrets: [tokenA, tokenB] };
  },

  async send(cfg, msg, ctx) {
    // Rocket.Chat drops the title (shoutrrr sends the message only).
    const payload: Record<string, unknown> = { text: msg.message };
    if (cfg.username) payload.username = cfg.username;
    if (cfg.channel) payload.channel = cfg.channel;
    await postJson(ctx, `https://${cfg.host}/hooks/${cfg.tokenA}/${cfg.tokenB}`, payload, {}, (s) => s === 200);
  },
};
