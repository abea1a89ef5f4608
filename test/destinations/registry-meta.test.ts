// Every registered destination runs the shared contract (test/destinations/contract.ts) in
// its own test file: a destination added to src/destinations/registry.ts without a contract
// run fails here. (Notification services have the same check in test/notify/url-table.ts.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { destinationKinds } from '../../src/destinations/registry.ts';
import { CONTRACT_CASES } from './contract.ts';

const dir = new URL('./', import.meta.url);

/** The names given to runDestinationContract() in test/destinations/*.test.ts, with their skip lists. */
function contractRuns(): Array<{ file: string; name: string; source: string }> {
  const out: Array<{ file: string; name: string; source: string }> = [];
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.test.ts') && f !== 'registry-meta.test.ts')) {
    const source = readFileSync(new URL(file, dir), 'utf8');
    for (const m of source.matchAll(/runDestinationContract\(\s*'([^']+)'/g)) out.push({ file, name: m[1]!, source });
  }
  return out;
}

test('every registered destination kind runs the destination contract', () => {
  const runs = contractRuns();
  for (const kind of destinationKinds()) {
    // a run is named by its kind, optionally followed by what it runs against: `SSH (OpenSSH sshd, SFTP)`
    const mine = runs.filter((r) => r.name === kind || r.name.startsWith(`${kind} (`));
    assert.ok(mine.length > 0, `destination ${kind} has no runDestinationContract('${kind}', ...) in test/destinations/*.test.ts`);
  }
});

test('the contract has the cases every destination must meet', () => {
  for (const c of [
    'an existing name is refused without replace',
    'failed replacement keeps the old backup intact',
    'names with a separator or .. are refused by upload, remove and download',
  ]) {
    assert.ok((CONTRACT_CASES as readonly string[]).includes(c), c);
  }
  // nobody skips them: they hold for every destination
  for (const r of contractRuns()) {
    assert.doesNotMatch(r.source, /'an existing name is refused without replace':/, `${r.file} skips the overwrite case`);
    assert.doesNotMatch(r.source, /'names with a separator or \.\. are refused[^']*':/, `${r.file} skips the name case`);
  }
});
