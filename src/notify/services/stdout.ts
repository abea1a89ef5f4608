import { NotifyUrlError, type BaseServiceConfig, type NotifyService } from '../types.ts';

/**
 * `stdout://`: the notification is written to the process's standard output (the container
 * log), as shoutrrr's stdout service does: the title, a blank line, the message.
 */
export const stdout: NotifyService<BaseServiceConfig> = {
  schemes: ['stdout'],
  parse(url) {
    if (url.host || (url.pathname && url.pathname !== '/')) throw new NotifyUrlError('takes no host or path; write stdout://');
    return { secrets: [] };
  },
  async send(_cfg, msg) {
    const text = `${msg.title ? `${msg.title}\n\n` : ''}${msg.message}\n`;
    await new Promise<void>((resolve, reject) => process.stdout.write(text, (e) => (e ? reject(e) : resolve())));
  },
};
