/**
 * A crash at any instant leaves the old state or the new one: the server is
 * killed with SIGKILL at several points of a backup, restarted, and every
 * visible snapshot must be complete (its whole tree closure present); then the
 * next backup completes and restores byte for byte. The agent is killed too.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { agent, cleanup, fsState, JOURNAL_EXCLUDES, laptop, NODE_FLAGS, REPO, tmp } from './helpers/harness.js';
import type { Tree } from '../src/protocol/tree.js';

function startChild(root: string, port = 0): Promise<{ proc: ChildProcess; url: string }> {
  return new Promise((resolve, reject) => {
    const proc = spawn(
      process.execPath,
      [
        join(REPO, 'bin', 'ds-backup-server.js'),
        'serve',
        '--root',
        root,
        '--host',
        '127.0.0.1',
        '--port',
        String(port),
        '--log-level',
        'error',
        '--load-limit',
        '1000',
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let out = '';
    proc.stdout!.on('data', (d) => {
      out += d;
      const m = /listening on (http:\/\/[\d.:]+)/.exec(out);
      if (m) resolve({ proc, url: m[1] });
    });
    proc.on('exit', (code) => reject(new Error(`server exited ${code}`)));
  });
}

function killHard(p: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (p.exitCode !== null) return resolve();
    p.removeAllListeners('exit');
    p.on('exit', () => resolve());
    p.kill('SIGKILL');
  });
}

/** Every snapshot folder with a name is complete: trees and blobs all present. */
function assertConsistent(root: string, serial: string): number {
  const user = join(root, 'users', serial);
  if (!existsSync(user)) return 0;
  let n = 0;
  for (const name of readdirSync(user)) {
    if (!/^(datastore|documents)-\d/.test(name)) continue;
    const info = JSON.parse(readFileSync(join(user, name, 'snapshot.json'), 'utf8')) as { root: string };
    const stack = [info.root];
    while (stack.length) {
      const id = stack.pop()!;
      const t = JSON.parse(readFileSync(join(root, 'trees', id.slice(0, 2), id), 'utf8')) as Tree;
      for (const e of t.e) {
        if (e[1] === 'd') stack.push(e[5]);
        else if (e[1] === 'f')
          assert.equal(statSync(join(root, 'pool', e[5].slice(0, 2), e[5])).size, e[4], `${name}: blob of ${e[0]}`);
      }
    }
    n++;
  }
  for (const link of ['datastore-latest', 'documents-latest']) {
    if (existsSync(join(user, link)) || readdirSync(user).includes(link))
      assert.ok(
        existsSync(join(user, readlinkSync(join(user, link)), 'snapshot.json')),
        `${link} points at a complete snapshot`,
      );
  }
  return n;
}

test('kill -9 of the server at any moment leaves no half snapshot; the next backup completes', async () => {
  const root = tmp('crash');
  const l = laptop({ seed: 'crashy', entries: 120, documents: true });
  let srv = await startChild(root);
  const port = Number(new URL(srv.url).port);
  assert.equal(
    (await agent(['register', '--server', srv.url, '--serial', 'SHF7000999', '--profile', l.profile])).code,
    0,
  );
  for (const delay of [40, 120, 250, 400, 700]) {
    const run = agent(['backup', '--profile', l.profile]);
    await new Promise((r) => setTimeout(r, delay));
    await killHard(srv.proc);
    const res = await run;
    assert.ok(res.code === 0 || res.code === 1, `agent ends cleanly (${res.code}: ${res.stderr})`);
    srv = await startChild(root, port);
    assertConsistent(root, 'SHF7000999');
  }
  const done = await agent(['backup', '--profile', l.profile, '--json']);
  assert.equal(done.code, 0, done.stderr);
  assert.ok(assertConsistent(root, 'SHF7000999') >= 2);
  const out = tmp('crash-out');
  assert.equal((await agent(['restore', '--profile', l.profile, '--all', '--to', out])).code, 0);
  assert.deepEqual(fsState(join(out, 'datastore')), fsState(join(l.profile, 'datastore'), JOURNAL_EXCLUDES));
  await killHard(srv.proc);
  cleanup(root, l.profile, out);
});

test('kill -9 of the agent mid-backup: the rerun completes', async () => {
  const root = tmp('crash2');
  const l = laptop({ seed: 'agentkill', entries: 120 });
  const srv = await startChild(root);
  assert.equal(
    (await agent(['register', '--server', srv.url, '--serial', 'SHF7000998', '--profile', l.profile])).code,
    0,
  );
  const proc = spawn(
    process.execPath,
    [...NODE_FLAGS, join(REPO, 'bin', 'ds-backup.js'), 'backup', '--profile', l.profile],
    {
      stdio: 'ignore',
    },
  );
  await new Promise((r) => setTimeout(r, 300));
  await killHard(proc);
  const again = await agent(['backup', '--profile', l.profile, '--json']);
  assert.equal(again.code, 0, again.stderr);
  assertConsistent(root, 'SHF7000998');
  await killHard(srv.proc);
  cleanup(root, l.profile);
});
