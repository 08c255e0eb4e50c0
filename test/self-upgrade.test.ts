/**
 * Self-upgrade (issue 17): an agent installed by the school server's script
 * learns from the ping answer that the server serves a newer agent and, after
 * its next backup, replaces itself (verified by hash, switched atomically);
 * a new bundle that does not start, or one changed on the way, leaves the old
 * agent current and working; a developer's checkout never upgrades.
 * The "older" agent is the real bundle built with another version label
 * (scripts/bundle.mjs --version 0.0.1).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { agent, cleanup, registered, REPO, startServer, tmp, type TestServer } from './helpers/harness.js';
import { freshLaptop, installLine, launcher, tamperingProxy, type Laptop } from './helpers/install.js';

const VERSION = (JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string }).version;
const sha16 = (f: string) => createHash('sha256').update(readFileSync(f)).digest('hex').slice(0, 16);

let srv: TestServer;
let work: string;
let oldBundle: string;
let brokenBundle: string;
const homes: string[] = [];

before(async () => {
  work = tmp('upgrade');
  oldBundle = join(work, 'old.mjs');
  execFileSync(process.execPath, ['scripts/bundle.mjs', '--version', '0.0.1', '--out', oldBundle], { cwd: REPO });
  brokenBundle = join(work, 'broken.mjs');
  writeFileSync(brokenBundle, '// ds-backup agent 99.0.0\nthrow new Error("this build is broken");\n');
  srv = await startServer();
});
after(async () => {
  await srv.close();
  cleanup(srv.root, work, ...homes);
});

/** A laptop installed by the script while the server serves `bundle`. */
async function installedWith(bundle: string, seed: string, serial: string): Promise<Laptop> {
  srv.ctx.config.agentBundle = bundle;
  const l = freshLaptop(seed);
  homes.push(l.home);
  const r = await installLine(srv.url, l, { DSB_SERIAL: serial });
  assert.equal(r.code, 0, r.stderr);
  return l;
}

const current = (l: Laptop) => readlinkSync(join(l.dataDir, 'current.mjs'));
const bundles = (l: Laptop) => readdirSync(l.dataDir).filter((f) => f.startsWith('agent-'));

describe('self-upgrade from the school server', () => {
  test('an older installed agent upgrades after its backup, and the new one backs up', async () => {
    const l = await installedWith(oldBundle, 'up1', 'SHF0001801');
    assert.equal((await launcher(l, ['--version'])).stdout.trim(), '0.0.1');
    const oldName = current(l);

    srv.ctx.config.agentBundle = ''; // the server is upgraded: it now serves this package's build
    const ping = (await (await fetch(`${srv.url}/api/v1/ping`)).json()) as { agent: { version: string } };
    assert.equal(ping.agent.version, VERSION);
    const run = await launcher(l, ['run', '--no-sleep']);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stderr, /backed up: datastore-/);
    assert.match(run.stderr, new RegExp(`upgraded the agent: 0\\.0\\.1 → ${VERSION.replace(/\./g, '\\.')}`));
    assert.equal(current(l), `agent-${sha16(join(REPO, 'dist', 'ds-backup.mjs'))}.mjs`);
    assert.deepEqual(bundles(l).sort(), [oldName, current(l)].sort(), 'the previous agent is kept beside the new one');
    assert.equal((await launcher(l, ['--version'])).stdout.trim(), VERSION);

    const b = await launcher(l, ['backup', '--json']);
    assert.equal(b.code, 0, b.stderr);
    const list = JSON.parse((await launcher(l, ['list', '--json'])).stdout) as { snapshots: unknown[] };
    assert.ok(list.snapshots.length >= 1);
    // The timer runs the launcher, which follows current.mjs: nothing else to change.
    assert.match(readFileSync(join(l.home, 'crontab.txt'), 'utf8'), new RegExp(`/bin/sh ${l.launcher} run`));
  });

  test('running the install line again upgrades in place and keeps the registration', async () => {
    const l = await installedWith(oldBundle, 'up0', 'SHF0001800');
    const cfg = readFileSync(join(l.profile, 'ds-backup', 'config.json'), 'utf8');
    const oldName = current(l);
    srv.ctx.config.agentBundle = '';
    const r = await installLine(srv.url, l, { DSB_SERIAL: 'SHF0001800' });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, new RegExp(`agent ${VERSION.replace(/\./g, '\\.')}: installed`));
    assert.match(r.stderr, /already registered SHF0001800/);
    assert.equal(readFileSync(join(l.profile, 'ds-backup', 'config.json'), 'utf8'), cfg, 'same token');
    assert.deepEqual(bundles(l).sort(), [oldName, current(l)].sort());
    assert.equal((await launcher(l, ['--version'])).stdout.trim(), VERSION);
  });

  test('a new agent that does not start leaves the old one current and working', async () => {
    const l = await installedWith('', 'up2', 'SHF0001802');
    const before = current(l);
    srv.ctx.config.agentBundle = brokenBundle;
    const run = await launcher(l, ['run', '--no-sleep']);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stderr, /backed up: datastore-/);
    assert.match(run.stderr, /agent upgrade to 99\.0\.0 failed: .*does not start.*; this agent \(.*\) stays/);
    assert.equal(current(l), before);
    assert.deepEqual(bundles(l), [before], 'the broken download is removed');
    assert.equal((await launcher(l, ['--version'])).stdout.trim(), VERSION);
    assert.equal((await launcher(l, ['backup', '--json'])).code, 0);
  });

  test('a new agent changed on the way is refused by its hash', async () => {
    const l = await installedWith(oldBundle, 'up3', 'SHF0001803');
    const before = current(l);
    srv.ctx.config.agentBundle = '';
    const proxy = await tamperingProxy(srv.url, '/agent/ds-backup.mjs');
    try {
      // The laptop reaches the server through the tampering proxy from now on.
      const cfgFile = join(l.profile, 'ds-backup', 'config.json');
      const cfg = JSON.parse(readFileSync(cfgFile, 'utf8')) as { server: string };
      writeFileSync(cfgFile, JSON.stringify({ ...cfg, server: proxy.url }));
      const run = await launcher(l, ['run', '--no-sleep']);
      assert.equal(run.code, 0, run.stderr);
      assert.match(run.stderr, /agent upgrade to .* refused: .* has SHA-256 [0-9a-f]{64}, the server announced/);
      assert.equal(current(l), before);
      assert.equal((await launcher(l, ['--version'])).stdout.trim(), '0.0.1');
      assert.ok(!readdirSync(l.dataDir).some((f) => f.startsWith('.download-')));
    } finally {
      await proxy.close();
    }
  });

  test("a developer's checkout never upgrades itself", async () => {
    srv.ctx.config.agentBundle = brokenBundle; // a "newer" agent is on offer
    const l = await registered(srv.url, 'SHF0001804');
    homes.push(l.profile);
    const dist = readFileSync(join(REPO, 'dist', 'ds-backup.mjs'));
    const r = await agent(['run', '--no-sleep', '--profile', l.profile]);
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stderr, /upgrade/);
    assert.ok(readFileSync(join(REPO, 'dist', 'ds-backup.mjs')).equals(dist));
    assert.ok(!existsSync(join(REPO, 'dist', 'current.mjs')));
    srv.ctx.config.agentBundle = '';
  });
});
