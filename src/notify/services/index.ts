import type { BaseServiceConfig, NotifyService } from '../types.ts';
import { bark } from './bark.ts';
import { discord } from './discord.ts';
import { generic } from './generic.ts';
import { googlechat } from './googlechat.ts';
import { gotify } from './gotify.ts';
import { ifttt } from './ifttt.ts';
import { join } from './join.ts';
import { logger } from './logger.ts';
import { matrix } from './matrix.ts';
import { mattermost } from './mattermost.ts';
import { ntfy } from './ntfy.ts';
import { opsgenie } from './opsgenie.ts';
import { pushbullet } from './pushbullet.ts';
import { pushover } from './pushover.ts';
import { rocketchat } from './rocketchat.ts';
import { slack } from './slack.ts';
import { smtp } from './smtp.ts';
import { stdout } from './stdout.ts';
import { teams } from './teams.ts';
import { telegram } from './telegram.ts';
import { zulip } from './zulip.ts';

/** Every supported service (21). */
export const SERVICES: readonly NotifyService<BaseServiceConfig>[] = [
  smtp, slack, discord, telegram, teams, gotify, ntfy, pushover, mattermost, matrix,
  rocketchat, googlechat, zulip, ifttt, join, bark, opsgenie, pushbullet, generic, stdout, logger,
] as unknown as NotifyService<BaseServiceConfig>[];
