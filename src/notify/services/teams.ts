import { postJson } from '../http.ts';
import { NotifyUrlError, type BaseServiceConfig, type NotifyService } from '../types.ts';
import { Query, decode, pathSegments } from '../url.ts';
import { titleOf } from './common.ts';

export interface TeamsConfig extends BaseServiceConfig {
  /** Power Automate workflow URL (the fork's form), or '' for the legacy connector form. */
  workflowUrl: string;
  /** Legacy: the full https://{host}/webhookb2/... URL. */
  legacyUrl: string;
  title: string;
  color: string;
}

export const teams: NotifyService<TeamsConfig> = {
  schemes: ['teams'],
  parse(url) {
    const q = new Query(url);
    const host = q.str('host');
    const title = q.str('title');
    const color = q.str('color');
    // Unknown query keys are ignored (shoutrrr's teams does not refuse them).
    if (!host) throw new NotifyUrlError('missing host=; expected teams://?host=<percent-encoded workflow URL>');
    if (/^https?:\/\//i.test(host)) {
      let wf: URL;
      try { wf = new URL(host); } catch { throw new NotifyUrlError('host= is not a valid workflow URL'); }
      const secrets = [host];
      for (const [k, v] of wf.searchParams) if (/^(sig|code|key|token)$/i.test(k) && v) secrets.push(v);
      return { workflowUrl: wf.href, legacyUrl: '', title, color, secrets };
    }
    // legacy connector: teams://GROUP@TENANT/ALTID/GROUPOWNER[/EXTRAID]?host=xxx.webhook.office.com
    const group = decode(url.username);
    const tenant = decode(url.hostname);
    const segs = pathSegments(url);
    if (!group || !tenant || segs.length < 2) {
      throw new NotifyUrlError('host= is not a workflow URL and the URL lacks the legacy webhook parts; expected teams://?host=<workflow URL> or teams://GROUP@TENANT/ALTID/GROUPOWNER?host=xxx.webhook.office.com');
    }
    if (!/^[A-Za-z0-9.-]+(:\d+)?$/.test(host)) throw new NotifyUrlError(`host=${host} is not a host name`);
    const legacyUrl = `https://${host}/webhookb2/${group}@${tenant}/IncomingWebhook/${segs.slice(0, 3).join('/')}`;
    return { workflowUrl: '', legacyUrl, title, color, secrets: [group, ...segs.slice(0, 3)] };
  },

  async send(cfg, msg, ctx) {
    const title = titleOf(msg, cfg.title);
    const lines = msg.message.split('\n');
    if (cfg.workflowUrl) {
      const body: Record<string, unknown>[] = [];
      if (title) body.push({ type: 'TextBlock', text: title, weight: 'Bolder', size: 'Medium', color: colorToEnum(cfg.color) });
      for (const line of lines) if (line.trim() !== '') body.push({ type: 'TextBlock', text: line, wrap: true });
      const payload = {
        type: 'message',
        attachments: [{
          contentType: 'application/vnd.microsoft.card.adaptive',
          contentUrl: null,
          content: { $schema: 'http://adaptivecards.io/schemas/adaptive-card.json', type: 'AdaptiveCard', version: '1.2', body },
        }],
      };
      await postJson(ctx, cfg.workflowUrl, payload, {}, (s) => s === 200 || s === 202);
      return;
    }
    let summary = title;
    if (!summary && lines.length > 0) summary = lines[0]!.slice(0, 21);
    const payload: Record<string, unknown> = { '@type': 'MessageCard', '@context': 'http://schema.org/extensions', markdown: true };
    if (title) payload.title = title;
    if (summary) payload.summary = summary;
    payload.sections = lines.map((text) => (text ? { text, startGroup: false } : { startGroup: false }));
    if (cfg.color) payload.themeColor = cfg.color;
    await postJson(ctx, cfg.legacyUrl, payload, {}, (s) => s === 200);
  },
};

function colorToEnum(color: string): string {
  switch (color.toLowerCase()) {
    case 'red': case 'attention': case 'danger': return 'attention';
    case 'orange': case 'yellow': case 'warning': case 'warn': return 'warning';
    case 'green': case 'good': case 'success': return 'good';
    case 'blue': case 'accent': return 'accent';
    case 'dark': return 'dark';
    case 'light': return 'light';
    default: return 'default';
  }
}
