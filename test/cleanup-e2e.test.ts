/**
 * End to end with real backups through the agent CLI: pin an entry with
 * `ds-backup pin`, delete it and a starred entry from the Journal, back up
 * again, run `ds-backup-server cleanup` months later (fixed clock with
 * --now) in its own process, then restore the pinned and the starred entry
 * versions and an old snapshot byte for byte with `ds-backup restore`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { mutateJournal } from '../src/journal/gen/generator.js';
import { monthOf } from '../src/server/retention/retention.js';
import {
  agent,
  backupJson,
  fsState,
  JOURNAL_EXCLUDES,
  registered,
  serverCli,
  serverForSuite,
  tmp,
  type TestServer,
} from './helpers/harness.js';
import { ageStore } from './helpers/sim.js';

let srv: TestServer;
serverForSuite((s) => (srv = s));

function same(a: Map<string, string>, b: Map<string, string>, what: string) {
  assert.deepEqual([...b.keys()].sort(), [...a.keys()].sort(), `${what}: same paths`);
  for (const [k, v] of a) assert.equal(b.get(k), v, `${what}: same ${k}`);
}

test('pinned and starred entries restore byte for byte after cleanup removed every snapshot holding them', async () => {
  const l = await registered(srv.url, 'SHF00000E2E', { entries: 20 });
  const ds = join(l.profile, 'datastore');
  const b1 = await backupJson(l.profile);
  const state1 = fsState(ds, JOURNAL_EXCLUDES);
  const changed = mutateJournal(ds, { seed: 'e2e-1', fraction: 0.3 }).changed;
  const b2 = await backupJson(l.profile);
  const x = changed[0];
  const starred = l.summary.entries.find((e) => e.keep && e.uid !== x)!;
  const rel = (uid: string) => join(uid.slice(0, 2), uid);
  const xState = fsState(join(ds, rel(x)));
  const starState = fsState(join(ds, rel(starred.uid)));

  const pin = await agent(['pin', '--profile', l.profile, '--entry', x, '--json']);
  assert.equal(pin.code, 0, pin.stderr);
  const pinned = JSON.parse(pin.stdout) as { id: string; version: string; uid: string };
  assert.equal(pinned.uid, x);
  const snapPin = await agent(['pin', '--profile', l.profile, '--snapshot', b2.snapshots[0].name]);
  assert.equal(snapPin.code, 0, snapPin.stderr);
  const unpin = await agent(['unpin', '--profile', l.profile, '--snapshot', b2.snapshots[0].name]);
  assert.equal(unpin.code, 0, unpin.stderr);
  assert.equal((await agent(['pin', '--profile', l.profile])).code, 2, 'pin without a target is a usage error');

  // The student deletes both entries; the next backup no longer holds them.
  rmSync(join(ds, rel(x)), { recursive: true });
  rmSync(join(ds, rel(starred.uid)), { recursive: true });
  mutateJournal(ds, { seed: 'e2e-2', fraction: 0.2 });
  await backupJson(l.profile);

  ageStore(srv.ctx.store);
  const now = new Date(Date.now() + 200 * 86_400_000).toISOString();
  const dry = await serverCli(['cleanup', '--root', srv.root, '--dry-run', '--now', now]);
  assert.equal(dry.code, 0, dry.stderr);
  assert.match(dry.stdout, /dry run: would remove/);
  const run = await serverCli(['cleanup', '--root', srv.root, '--force', '--now', now, '--json']);
  assert.equal(run.code, 0, run.stderr);
  const report = JSON.parse(run.stdout) as { removed: Array<{ name: string }>; pins: { added: number } };
  const n1 = b1.snapshots[0].name;
  const n2 = b2.snapshots[0].name;
  const sameMonth = monthOf(Date.parse(n1.slice(10, 20))) === monthOf(Date.parse(n2.slice(10, 20)));
  if (sameMonth)
    assert.deepEqual(
      report.removed.map((r) => r.name),
      [n2],
      'the middle snapshot is thinned',
    );
  assert.ok(report.pins.added >= 1, 'starred entries auto-pinned');

  const pins = JSON.parse((await agent(['pins', '--profile', l.profile, '--json'])).stdout) as {
    pins: Array<{ uid: string; version: string; auto: boolean }>;
  };
  const auto = pins.pins.find((p) => p.auto && p.uid === starred.uid);
  assert.ok(auto, 'the starred entry has an auto pin');

  const out = tmp('out');
  for (const [uid, version, want] of [
    [x, pinned.version, xState],
    [starred.uid, auto.version, starState],
  ] as const) {
    const r = await agent([
      'restore',
      '--profile',
      l.profile,
      '--entry',
      uid,
      '--version',
      version.slice(0, 12),
      '--to',
      out,
    ]);
    assert.equal(r.code, 0, r.stderr);
    same(want, fsState(join(out, 'datastore', rel(uid))), `entry ${uid}`);
  }
  const old = await agent(['restore', '--profile', l.profile, '--all', '--snapshot', n1, '--to', join(out, 'old')]);
  assert.equal(old.code, 0, old.stderr);
  same(state1, fsState(join(out, 'old', 'datastore')), 'the first snapshot');
  const none = await agent([
    'restore',
    '--profile',
    l.profile,
    '--entry',
    x,
    '--version',
    'deadbeefdeadbeef',
    '--to',
    out,
  ]);
  assert.equal(none.code, 1);
  assert.match(none.stderr, /not pinned/);
});
