/** Label names shared with offen/docker-volume-backup. */
export const LABEL_PREFIX = 'docker-volume-backup.';
export const STOP_LABEL = `${LABEL_PREFIX}stop-during-backup`;
export const NO_RESTART_LABEL = `${LABEL_PREFIX}stop-during-backup-no-restart`;
export const EXEC_LABEL_LABEL = `${LABEL_PREFIX}exec-label`;
export const SWARM_SERVICE_ID = 'com.docker.swarm.service.id';
export const SWARM_SERVICE_NAME = 'com.docker.swarm.service.name';

/** A listed container's name without the leading slash (its short id when it has none). */
export function containerName(c: { Id: string; Names?: string[] }): string {
  const n = c.Names?.[0];
  return n ? n.replace(/^\//, '') : c.Id.slice(0, 12);
}
