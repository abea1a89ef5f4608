import type { BaseServiceConfig, NotifyService } from '../types.ts';
import { bark } from './bark.ts';
import { discord } from './discord.ts';
import { generic } from './generic.ts';
import { googlechat } from './googlechat.ts';
import { gotify } from './gotify.ts';
import { ifttt } from './ifttt.ts';
import { join } from './join.ts';
import { lark } from './lark.ts';
import { logger } from './logger.ts';
import { matrix } from './matrix.ts';
import { mattermost } from './mattermost.ts';
import { mqtt } from './mqtt.ts';
import { notifiarr } from './notifiarr.ts';
import { ntfy } from './ntfy.ts';
import { opsgenie } from './opsgenie.ts';
import { pagerduty } from './pagerduty.ts';
import { pushbullet } from './pushbullet.ts';
import { pushover } from './pushover.ts';
import { rocketchat } from './rocketchat.ts';
import { signal } from './signal.ts';
import { slack } from './slack.ts';
import { smtp } from './smtp.ts';
import { stdout } from './stdout.ts';
import { teams } from './teams.ts';
import { telegram } from './telegram.ts';
import { twilio } from './twilio.ts';
import { wecom } from './wecom.ts';
import { zulip } from './zulip.ts';

/**
 * Every supported service (28; 32 schemes with hangouts, mqtts, generic+http and generic+https):
 * the 29 schemes of the shoutrrr fork v0.17, and stdout.
 */
export const SERVICES: readonly NotifyService<BaseServiceConfig>[] = [
  smtp,
  slack,
  discord,
  telegram,
  teams,
  gotify,
  ntfy,
  pushover,
  mattermost,
  matrix,
  rocketchat,
  googlechat,
  zulip,
  ifttt,
  join,
  bark,
  opsgenie,
  pushbullet,
  generic,
  stdout,
  logger,
  lark,
  mqtt,
  notifiarr,
  pagerduty,
  signal,
  twilio,
  wecom,
] as unknown as NotifyService<BaseServiceConfig>[];
