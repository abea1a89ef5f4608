/**
 * Deterministic stop/start order from Docker Compose's dependency labels.
 *
 * Compose writes `com.docker.compose.depends_on` on each container as a comma
 * list of `service:condition:restart` (older releases: `service:condition` or
 * just `service`), naming services of the same project
 * (`com.docker.compose.project`, `com.docker.compose.service`). A container is
 * started after everything it depends on (directly or through containers that
 * are not being stopped) and stopped before it. Ties are broken by name, so the
 * same set of containers always gives the same order.
 */

export const COMPOSE_PROJECT = 'com.docker.compose.project';
export const COMPOSE_SERVICE = 'com.docker.compose.service';
export const COMPOSE_DEPENDS_ON = 'com.docker.compose.depends_on';

export interface OrderItem {
  id: string;
  /** Container name without the leading slash. */
  name: string;
  labels: Record<string, string>;
}

export interface Ordered<T> {
  /** Dependencies first: the order to start in. Reverse it to stop. */
  startOrder: T[];
  /** Names of containers in a dependency cycle (order among them is by name). */
  cycle: string[];
}

function key(project: string, service: string): string {
  return `${project}\u0000${service}`;
}

/** Service names a container's depends_on label lists. */
export function parseDependsOn(value: string | undefined): string[] {
  if (!value) return [];
  return value
    .split(',')
    .map((p) => p.trim().split(':')[0]!.trim())
    .filter(Boolean);
}

/**
 * Order `targets` so that dependencies come first. `all` is every running
 * container (targets included), used to follow dependencies through
 * containers that are not themselves targets.
 */
export function dependencyOrder<T extends OrderItem>(targets: T[], all: OrderItem[]): Ordered<T> {
  // service key -> direct dependency keys, over every known container
  const direct = new Map<string, Set<string>>();
  const addDeps = (c: OrderItem) => {
    const project = c.labels[COMPOSE_PROJECT];
    const service = c.labels[COMPOSE_SERVICE];
    if (project === undefined || service === undefined) return;
    const k = key(project, service);
    const set = direct.get(k) ?? new Set<string>();
    for (const d of parseDependsOn(c.labels[COMPOSE_DEPENDS_ON])) set.add(key(project, d));
    direct.set(k, set);
  };
  for (const c of all) addDeps(c);
  for (const c of targets) addDeps(c);

  const closure = (start: string): Set<string> => {
    const seen = new Set<string>();
    const stack = [...(direct.get(start) ?? [])];
    while (stack.length) {
      const k = stack.pop()!;
      if (seen.has(k)) continue;
      seen.add(k);
      for (const d of direct.get(k) ?? []) stack.push(d);
    }
    seen.delete(start);
    return seen;
  };

  const byName = [...targets].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const serviceKey = (c: OrderItem): string | null => {
    const p = c.labels[COMPOSE_PROJECT];
    const s = c.labels[COMPOSE_SERVICE];
    return p === undefined || s === undefined ? null : key(p, s);
  };
  // deps[i] = indexes (into byName) of targets that target i must start after
  const deps: Set<number>[] = byName.map((c) => {
    const k = serviceKey(c);
    const out = new Set<number>();
    if (!k) return out;
    const reach = closure(k);
    byName.forEach((other, j) => {
      const ok = serviceKey(other);
      if (ok && ok !== k && reach.has(ok)) out.add(j);
    });
    return out;
  });

  const placed = new Set<number>();
  const startOrder: T[] = [];
  const cycle: string[] = [];
  while (placed.size < byName.length) {
    let next = -1;
    for (let i = 0; i < byName.length; i++) {
      if (placed.has(i)) continue;
      if ([...deps[i]!].every((j) => placed.has(j))) {
        next = i;
        break;
      }
    }
    if (next === -1) {
      // A cycle (compose refuses these, but labels can be written by hand): take the first by name.
      next = byName.findIndex((_c, i) => !placed.has(i));
      cycle.push(byName[next]!.name);
    }
    placed.add(next);
    startOrder.push(byName[next]!);
  }
  return { startOrder, cycle };
}
