/**
 * Nothing fails open: a pins.json that cannot be read or parsed (garbage
 * bytes, truncated JSON, wrong shape, a directory in its place) stops the
 * cleanup — in process and through the CLI, dry run included — with a message
 * naming the file; the pinned snapshot that thinning would otherwise remove
 * stays, and the file is left exactly as it was. The pin and unpin routes
 * refuse with 409 {error, message} instead of rewriting the file.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Store } from '../src/server/store/store.js';
import { runCleanup, DEFAULT_CLEANUP } from '../src/server/retention/cleanup.js';
import { Pins } from '../src/server/retention/pins.js';
import { generateJournal } from '../src/journal/gen/generator.js';
import { cleanup, serverCli, startServer, tmp } from './helpers/harness.js';
import { ageStore, DAY, simBackup } from './helpers/sim.js';

const dirs: string[] = [];
after(() => cleanup(...dirs));
const T0 = Date.UTC(2026, 0, 1, 10, 0);
const noQuota = () => ({ totalBytes: 1e12, usedBytes: 1e9, totalInodes: 1e9, usedInodes: 1e3 });

/** Three daily snapshots; the middle one (which thinning removes at day 200) is pinned. */
async function pinnedStore(tag: string) {
  const root = tmp(tag);
  dirs.push(root);
  const store = new Store(root);
  const reg = store.registry.register({ serial: 'SHF0000DMG01', nickname: 'kid' });
  const dev = reg.device;
  const d = tmp('journal');
  dirs.push(d);
  generateJournal(join(d, 'datastore'), { seed: tag, entries: 4 });
  for (let i = 0; i < 3; i++) await simBackup(store, dev, join(d, 'datastore'), T0 + i * DAY);
  const names = (store.db.prepare('SELECT name FROM snapshots ORDER BY created_at').pluck().all() as string[]).sort();
  const pin = new Pins(store).pinSnapshot(dev.account_id, dev.serial, names[1]);
  ageStore(store);
  return {
    store,
    dev,
    names,
    token: reg.token,
    pinned: names[1],
    pin,
    file: join(store.userDir(dev.serial), 'pins.json'),
  };
}

const DAMAGE: Array<[string, (file: string) => void]> = [
  ['garbage bytes', (f) => writeFileSync(f, Buffer.from([0xff, 0x00, 0x13, 0x37, 0x80]))],
  ['truncated JSON', (f) => writeFileSync(f, readFileSync(f, 'utf8').slice(0, 40))],
  ['wrong shape', (f) => writeFileSync(f, JSON.stringify({ version: 1, pins: [{ id: 'x', kind: 'nope' }] }))],
  ['no pins list', (f) => writeFileSync(f, '{"version":1}')],
  [
    'unreadable (a directory in its place)',
    (f) => {
      rmSync(f);
      mkdirSync(f);
    },
  ],
];

const fingerprint = (f: string) => {
  const st = statSync(f);
  return st.isDirectory() ? `dir ${st.mtimeMs}` : `${st.mtimeMs} ${readFileSync(f).toString('hex')}`;
};

describe('a damaged pins.json stops the cleanup', () => {
  for (const [what, damage] of DAMAGE)
    test(what, async () => {
      const { store, dev, pinned, file } = await pinnedStore(`dmg-${what.split(' ')[0]}`);
      damage(file);
      const before = fingerprint(file);
      const opts = { now: T0 + 200 * DAY, disk: noQuota, slackMs: 0 };
      for (const dryRun of [true, false])
        await assert.rejects(runCleanup(store, DEFAULT_CLEANUP, { ...opts, dryRun }), (e: Error & { code: string }) => {
          assert.equal(e.code, 'state_damaged');
          assert.ok(e.message.includes(file), e.message);
          assert.match(e.message, /Nothing was changed/);
          return true;
        });
      assert.equal(fingerprint(file), before, 'the file is unchanged');
      assert.ok(
        store.db.prepare('SELECT 1 FROM snapshots WHERE serial = ? AND name = ?').get(dev.serial, pinned),
        'the pinned snapshot is still indexed',
      );
      assert.ok(statSync(join(store.userDir(dev.serial), pinned, 'snapshot.json')).isFile(), 'and on disk');
      assert.equal(store.db.prepare('SELECT count(*) FROM pins').pluck().get(), 1, "the catalog's pin stays");
      store.close();
      const cli = await serverCli([
        'cleanup',
        '--root',
        store.root,
        '--force',
        '--now',
        new Date(opts.now).toISOString(),
      ]);
      assert.equal(cli.code, 1, cli.stderr);
      assert.ok(cli.stderr.includes('pins.json'), cli.stderr);
      assert.equal(fingerprint(file), before, 'the CLI left the file unchanged');
    });

  test('an intact file: the same cleanup keeps the pinned snapshot and removes its unpinned twin', async () => {
    const { store, dev, pinned, file } = await pinnedStore('intact');
    const r = await runCleanup(store, DEFAULT_CLEANUP, { now: T0 + 200 * DAY, disk: noQuota, slackMs: 0 });
    assert.equal(r.snapshots.removed, 0, 'day 1 is first of its month, day 2 pinned, day 3 latest');
    assert.ok(store.db.prepare('SELECT 1 FROM snapshots WHERE serial = ? AND name = ?').get(dev.serial, pinned));
    rmSync(file);
    const r2 = await runCleanup(store, DEFAULT_CLEANUP, { now: T0 + 200 * DAY, disk: noQuota, slackMs: 0 });
    assert.deepEqual(
      r2.removed.map((s) => s.name),
      [pinned],
      'an absent file means no pins (the control)',
    );
    store.close();
  });
});

test('pin and unpin refuse with 409 while pins.json is damaged, and leave it unchanged', async () => {
  const { store, pin, file, names, token } = await pinnedStore('api');
  const root = store.root;
  store.close();
  const srv = await startServer({ root });
  try {
    writeFileSync(file, '{"version":1,"pins":[');
    const before = fingerprint(file);
    const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
    const post = await fetch(`${srv.url}/api/v1/pins`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ snapshot: names[0] }),
    });
    const del = await fetch(`${srv.url}/api/v1/pins/${pin.id}`, { method: 'DELETE', headers });
    for (const res of [post, del]) {
      assert.equal(res.status, 409);
      const body = (await res.json()) as { error: string; message: string };
      assert.equal(body.error, 'state_damaged');
      assert.ok(body.message.includes('pins.json'), body.message);
    }
    assert.equal(fingerprint(file), before, 'the damaged file was not overwritten');
    assert.equal(srv.ctx.store.db.prepare('SELECT count(*) FROM pins').pluck().get(), 1, 'the pin is still indexed');
  } finally {
    await srv.close();
  }
});
