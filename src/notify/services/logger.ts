import { NotifyUrlError, type BaseServiceConfig, type NotifyService } from '../types.ts';

/**
 * `logger://`: the notification becomes one line of offsite's log (level info for a success,
 * error for a failure), with the title as its message and the text in `text`.
 */
export const logger: NotifyService<BaseServiceConfig> = {
  schemes: ['logger'],
  parse(url) {
    if (url.host || (url.pathname && url.pathname !== '/')) throw new NotifyUrlError('takes no host or path; write logger://');
    return { secrets: [] };
  },
  async send(_cfg, msg, ctx) {
    const fields = { service: 'logger', text: msg.message };
    if (msg.level === 'error') ctx.log.error(fields, msg.title || 'notification');
    else ctx.log.info(fields, msg.title || 'notification');
  },
};
