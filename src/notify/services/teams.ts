import { postJson } from '../http.ts';
import { NotifyUrlError, type BaseServiceConfig, type NotifyService } from '../types.ts';
import { Query } from '../url.ts';
import { titleOf } from './common.ts';

export interface TeamsConfig extends BaseServiceConfig {
  /** Power Automate workflow URL (the only form the fork accepts). */
  workflowUrl: string;
  title: string;
  color: string;
}

/**
 * The hosts and paths the fork accepts for a workflow URL: `*.logic.azure.*` (workflows/...)
 * and `*.environment.api.powerplatform.com` (powerautomate/automations/direct/.../workflows/...).
 */
const WORKFLOW_URL = new RegExp(
  '^https://[a-zA-Z0-9][a-zA-Z0-9.-]*\\.logic\\.azure(?:\\.[a-z]{2,})?(:\\d+)?/(?:powerautomate/automations/direct/(?:[A-Za-z0-9-]+/)*)?workflows/' +
    '|^https://[a-zA-Z0-9][a-zA-Z0-9.-]*\\.environment\\.api\\.powerplatform\\.com(:\\d+)?/powerautomate/automations/direct/(?:[A-Za-z0-9-]+/)*workflows/',
);
const EXAMPLE = 'teams://?host=<percent-encoded workflow URL>';

export const teams: NotifyService<TeamsConfig> = {
  schemes: ['teams'],
  parse(url) {
    const q = new Query(url);
    const host = q.str('host');
    const title = q.str('title');
    const color = q.str('color');
    // Unknown query keys are ignored (the fork's teams does not refuse them).
    const legacy = Boolean(url.username || url.hostname || (url.pathname && url.pathname !== '/'));
    if (legacy && !WORKFLOW_URL.test(host)) {
      // the fork reads only host=; the connector parts alone cannot be sent anywhere
      throw new NotifyUrlError(
        `the Office 365 connector form teams://GROUP@TENANT/...?host=xxx.webhook.office.com is not supported (Microsoft retired the connectors); create a Power Automate workflow and write ${EXAMPLE}`,
      );
    }
    if (!host) throw new NotifyUrlError(`missing host=; expected ${EXAMPLE}`);
    if (!WORKFLOW_URL.test(host)) {
      throw new NotifyUrlError(
        'host= is not a Power Automate workflow URL (https://....logic.azure.com/workflows/... or https://....environment.api.powerplatform.com/powerautomate/automations/direct/.../workflows/...)',
      );
    }
    let wf: URL;
    try {
      wf = new URL(host);
    } catch {
      throw new NotifyUrlError('host= is not a valid workflow URL');
    }
    const secrets = [host];
    for (const [k, v] of wf.searchParams) if (/^(sig|code|key|token)$/i.test(k) && v) secrets.push(v);
    return { workflowUrl: host, title, color, secrets };
  },

  async send(cfg, msg, ctx) {
    const title = titleOf(msg, cfg.title);
    const body: Record<string, unknown>[] = [];
    if (title) body.push({ type: 'TextBlock', text: title, weight: 'Bolder', size: 'Medium', color: colorToEnum(cfg.color) });
    for (const line of msg.message.split('\n')) if (line.trim() !== '') body.push({ type: 'TextBlock', text: line, wrap: true });
    const payload = {
      type: 'message',
      attachments: [
        {
          contentType: 'application/vnd.microsoft.card.adaptive',
          contentUrl: null,
          content: { $schema: 'http://adaptivecards.io/schemas/adaptive-card.json', type: 'AdaptiveCard', version: '1.2', body },
        },
      ],
    };
    await postJson(ctx, cfg.workflowUrl, payload, {}, (s) => s === 200 || s === 202);
  },
};

function colorToEnum(color: string): string {
  switch (color.toLowerCase()) {
    case 'red':
    case 'attention':
    case 'danger':
      return 'attention';
    case 'orange':
    case 'yellow':
    case 'warning':
    case 'warn':
      return 'warning';
    case 'green':
    case 'good':
    case 'success':
      return 'good';
    case 'blue':
    case 'accent':
      return 'accent';
    case 'dark':
      return 'dark';
    case 'light':
      return 'light';
    default:
      return 'default';
  }
}
