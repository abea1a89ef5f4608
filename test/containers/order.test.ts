import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { dependencyOrder, parseDependsOn } from '../../src/containers/order.ts';

const c = (name: string, service?: string, dependsOn?: string, project = 'p') => ({
  id: `id-${name}`,
  name,
  labels:
    service === undefined
      ? {}
      : {
          'com.docker.compose.project': project,
          'com.docker.compose.service': service,
          ...(dependsOn !== undefined ? { 'com.docker.compose.depends_on': dependsOn } : {}),
        },
});

describe('parseDependsOn', () => {
  it('reads compose v2 (service:condition:restart), older (service:condition) and bare forms', () => {
    assert.deepEqual(parseDependsOn('db:service_started:false,cache:service_healthy:true'), ['db', 'cache']);
    assert.deepEqual(parseDependsOn('db:service_started'), ['db']);
    assert.deepEqual(parseDependsOn(' db , redis '), ['db', 'redis']);
    assert.deepEqual(parseDependsOn(''), []);
    assert.deepEqual(parseDependsOn(undefined), []);
  });
});

describe('dependencyOrder', () => {
  it('starts dependencies first, breaks ties by name', () => {
    const targets = [c('web', 'web', 'api:service_started:false'), c('api', 'api', 'db:service_healthy:true'), c('db', 'db'), c('aaa-standalone')];
    const { startOrder, cycle } = dependencyOrder(targets, targets);
    assert.deepEqual(
      startOrder.map((x) => x.name),
      ['aaa-standalone', 'db', 'api', 'web'],
    );
    assert.deepEqual(cycle, []);
  });

  it('follows dependencies through containers that are not stopped', () => {
    const targets = [c('proxy', 'proxy', 'web'), c('db', 'db')];
    const all = [...targets, c('web', 'web', 'db')];
    assert.deepEqual(
      dependencyOrder(targets, all).startOrder.map((x) => x.name),
      ['db', 'proxy'],
    );
    // without the middle container there is no known link: name order
    assert.deepEqual(
      dependencyOrder(targets, targets).startOrder.map((x) => x.name),
      ['db', 'proxy'],
    );
    const t2 = [c('a-proxy', 'proxy', 'web'), c('z-db', 'db')];
    assert.deepEqual(
      dependencyOrder(t2, [...t2, c('web', 'web', 'db')]).startOrder.map((x) => x.name),
      ['z-db', 'a-proxy'],
    );
    assert.deepEqual(
      dependencyOrder(t2, t2).startOrder.map((x) => x.name),
      ['a-proxy', 'z-db'],
    );
  });

  it('keeps projects apart: a service name in another project is not a dependency', () => {
    const targets = [c('a-app', 'app', 'db', 'one'), c('b-db', 'db', undefined, 'two')];
    assert.deepEqual(
      dependencyOrder(targets, targets).startOrder.map((x) => x.name),
      ['a-app', 'b-db'],
    );
  });

  it('replicas of one service do not depend on each other', () => {
    const targets = [c('p-app-2', 'app', 'db'), c('p-app-1', 'app', 'db'), c('p-db-1', 'db')];
    assert.deepEqual(
      dependencyOrder(targets, targets).startOrder.map((x) => x.name),
      ['p-db-1', 'p-app-1', 'p-app-2'],
    );
  });

  it('a cycle is broken by name and reported', () => {
    const targets = [c('b', 'b', 'a'), c('a', 'a', 'b'), c('c', 'c', 'a')];
    const { startOrder, cycle } = dependencyOrder(targets, targets);
    assert.deepEqual(
      startOrder.map((x) => x.name),
      ['a', 'b', 'c'],
    );
    assert.deepEqual(cycle, ['a']);
  });

  it('property: for any acyclic graph every dependency starts before its dependents, and the order does not depend on input order', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 9 }).chain((n) =>
          fc.tuple(
            fc.constant(n),
            // edges only from higher to lower index: acyclic
            fc.array(
              fc.tuple(fc.integer({ min: 0, max: n - 1 }), fc.integer({ min: 0, max: n - 1 })).map(([a, b]) => [Math.max(a, b), Math.min(a, b)] as const),
              { maxLength: 20 },
            ),
            fc.array(fc.boolean(), { minLength: n, maxLength: n }),
            fc.integer(),
          ),
        ),
        ([n, edges, stopped, seed]) => {
          const deps = new Map<number, number[]>();
          for (const [a, b] of edges) if (a !== b) deps.set(a, [...(deps.get(a) ?? []), b]);
          const all = Array.from({ length: n }, (_, i) => c(`svc${i}`, `s${i}`, (deps.get(i) ?? []).map((d) => `s${d}:service_started:false`).join(',')));
          const targets = all.filter((_, i) => stopped[i]);
          const shuffled = [...targets].sort((x, y) => ((x.name.charCodeAt(3) * 31 + seed) % 7) - ((y.name.charCodeAt(3) * 31 + seed) % 7));
          const a = dependencyOrder(targets, all).startOrder.map((x) => x.name);
          const b = dependencyOrder(shuffled, [...all].reverse()).startOrder.map((x) => x.name);
          assert.deepEqual(a, b);
          // transitive reachability in the full graph
          const reach = (i: number, seen = new Set<number>()): Set<number> => {
            for (const d of deps.get(i) ?? [])
              if (!seen.has(d)) {
                seen.add(d);
                reach(d, seen);
              }
            return seen;
          };
          for (let i = 0; i < n; i++) {
            if (!stopped[i]) continue;
            for (const d of reach(i)) {
              if (!stopped[d]) continue;
              assert.ok(a.indexOf(`svc${d}`) < a.indexOf(`svc${i}`), `svc${d} before svc${i} in ${a.join(',')}`);
            }
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
