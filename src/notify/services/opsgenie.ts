import { postJson } from '../http.ts';
import { NotifyUrlError, type BaseServiceConfig, type NotifyService } from '../types.ts';
import { Query, decode } from '../url.ts';
import { omitEmpty, titleOf } from './common.ts';

interface Entity {
  type: string;
  id?: string;
  name?: string;
  username?: string;
}

export interface OpsgenieConfig extends BaseServiceConfig {
  host: string;
  port: number;
  apiKey: string;
  alias: string;
  description: string;
  responders: Entity[];
  visibleTo: Entity[];
  actions: string[];
  tags: string[];
  details: Record<string, string>;
  entity: string;
  source: string;
  priority: string;
  note: string;
  user: string;
  title: string;
}

const MAX_MESSAGE = 130;
const ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const KEYS = ['alias', 'description', 'responders', 'visibleTo', 'actions', 'tags', 'details', 'entity', 'source', 'priority', 'note', 'user', 'title'];

function entities(key: string, list: string[]): Entity[] {
  return list.map((s) => {
    const parts = s.split(':');
    if (parts.length !== 2) throw new NotifyUrlError(`${key}: "${s}" is not type:identifier (such as team:ops or user:jane@example.com)`);
    const [type, ident] = parts as [string, string];
    if (ID.test(ident)) return { type, id: ident };
    if (type === 'team') return { type, name: ident };
    if (type === 'user') return { type, username: ident };
    throw new NotifyUrlError(`${key}: "${s}" has the type "${type}"; expected team or user (or an id)`);
  });
}

export const opsgenie: NotifyService<OpsgenieConfig> = {
  schemes: ['opsgenie'],
  parse(url) {
    const apiKey = decode(url.pathname.replace(/^\//, ''), 'API key');
    if (!apiKey) throw new NotifyUrlError('missing the API key; expected opsgenie://api.opsgenie.com/APIKEY');
    const q = new Query(url);
    const details: Record<string, string> = {};
    for (const pair of q.list('details')) {
      const i = pair.indexOf(':');
      if (i <= 0) throw new NotifyUrlError(`details: "${pair}" is not key:value`);
      details[pair.slice(0, i)] = pair.slice(i + 1);
    }
    const priority = q.str('priority');
    if (priority && !/^P[1-5]$/.test(priority)) throw new NotifyUrlError(`priority=${priority} is not one of P1, P2, P3, P4, P5`);
    const cfg: OpsgenieConfig = {
      host: url.hostname || 'api.opsgenie.com',
      port: url.port ? parseInt(url.port, 10) : 443,
      apiKey,
      alias: q.str('alias'),
      description: q.str('description'),
      responders: entities('responders', q.list('responders')),
      visibleTo: entities('visibleTo', q.list('visibleTo')),
      actions: q.list('actions'),
      tags: q.list('tags'),
      details,
      entity: q.str('entity'),
      source: q.str('source'),
      priority,
      note: q.str('note'),
      user: q.str('user'),
      title: q.str('title'),
      secrets: [apiKey],
    };
    q.finish(KEYS);
    return cfg;
  },

  async send(cfg, msg, ctx) {
    let title = titleOf(msg, cfg.title);
    let description = msg.message;
    if (!title) {
      if (Buffer.byteLength(description) > MAX_MESSAGE) title = Array.from(description).slice(0, MAX_MESSAGE).join('');
      else {
        title = description;
        description = '';
      }
    }
    if (cfg.description && description) description += '\n';
    const payload = {
      message: title,
      ...omitEmpty({
        alias: cfg.alias,
        description: description + cfg.description,
        responders: cfg.responders,
        visibleTo: cfg.visibleTo,
        actions: cfg.actions,
        tags: cfg.tags,
        details: cfg.details,
        entity: cfg.entity,
        source: cfg.source,
        priority: cfg.priority,
        user: cfg.user,
        note: cfg.note,
      }),
    };
    await postJson(ctx, `https://${cfg.host}:${cfg.port}/v2/alerts`, payload, { Authorization: `GenieKey ${cfg.apiKey}` });
  },
};
