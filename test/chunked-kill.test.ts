/**
 * kill -9 during the batches of a big chunked file (issue #13): the agent,
 * then the server, is killed once some batches of the file's chunks are
 * stored and others are not. The next backup succeeds, sends only the chunks
 * the server lacks (plus a little protocol), and a restore gives the file
 * back byte for byte. A batch is all-or-nothing on the server (one flush,
 * then published), so the file spans several 32 MiB batches; the server's
 * --bandwidth cap paces them so the kill lands between batches reliably.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { agent, cleanup, laptop, NODE_FLAGS, REPO, tmp } from './helpers/harness.js';
import { chunkFile } from '../src/snapshot/scan.js';

const SIZE = 72 * 1024 * 1024; // three batches of chunks
const RATE = 12 * 1024 * 1024;

function startChild(root: string, port = 0): Promise<{ proc: ChildProcess; url: string }> {
  return new Promise((resolve, reject) => {
    const args = ['serve', '--root', root, '--host', '127.0.0.1', '--port', String(port), '--log-level', 'error'];
    const proc = spawn(
      process.execPath,
      [join(REPO, 'bin', 'ds-backup-server.js'), ...args, '--load-limit', '1000', '--bandwidth', String(RATE)],
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
    if (p.exitCode !== null || p.signalCode !== null) return resolve();
    p.removeAllListeners('exit');
    p.on('exit', () => resolve());
    p.kill('SIGKILL');
  });
}

/** A laptop with a big random file in its Journal, its chunk list, and a server that has none of it. */
async function setup(tag: string, serial: string) {
  const root = tmp(`${tag}-srv`);
  const l = laptop({ seed: tag, entries: 4 });
  const big = join(l.profile, 'datastore', 'recording.ogg');
  writeFileSync(big, randomBytes(SIZE));
  const chunks = chunkFile(big).chunks;
  const srv = await startChild(root);
  const reg = await agent(['register', '--server', srv.url, '--serial', serial, '--profile', l.profile]);
  assert.equal(reg.code, 0, reg.stderr);
  const stored = () => chunks.filter(([id]) => existsSync(join(root, 'pool', id.slice(0, 2), id)));
  return { root, l, big, chunks, srv, stored };
}

/** Waits until at least one batch of the file's chunks is stored, but not all. */
async function midway(stored: () => Array<[string, number]>, total: number): Promise<void> {
  for (let i = 0; i < 2400 && stored().length === 0; i++) await sleep(25);
  const n = stored().length;
  assert.ok(n > 0 && n < total, `killed with ${n} of ${total} chunks stored`);
}

/** The rerun: succeeds, sends about what was missing, restores the file byte for byte. */
async function rerunAndRestore(s: Awaited<ReturnType<typeof setup>>, t: { diagnostic(m: string): void }) {
  // What the server holds once it has settled (a restarted server finishes what it had under way).
  for (let n = -1, i = 0; i < 100 && s.stored().length !== n; i++) {
    n = s.stored().length;
    await sleep(1000);
  }
  const have = new Set(s.stored().map(([id]) => id));
  const missing = s.chunks.filter(([id]) => !have.has(id));
  const missingBytes = missing.reduce((a, [, n]) => a + n, 0);
  assert.ok(missing.length > 0, 'something is left to send');
  const rerun = await agent(['backup', '--profile', s.l.profile, '--json']);
  assert.equal(rerun.code, 0, rerun.stderr);
  const out = JSON.parse(rerun.stdout) as { sentBytes: number; uploadedBlobs: number; uploadedBytes: number };
  t.diagnostic(
    `${missing.length} of ${s.chunks.length} chunks missing (${missingBytes} bytes); rerun sent ${out.sentBytes}, ${out.uploadedBlobs} blobs, ${out.uploadedBytes} bytes`,
  );
  // uploadedBytes: the blob bytes sent (the small files of the Journal were stored before the kill)
  assert.ok(out.uploadedBytes >= missingBytes, `uploaded ${out.uploadedBytes} for ${missingBytes} missing`);
  assert.ok(
    out.uploadedBytes < missingBytes + 256 * 1024,
    `uploaded ${out.uploadedBytes} bytes for ${missingBytes} missing: the stored chunks are not sent again`,
  );
  assert.ok(out.uploadedBlobs >= missing.length && out.uploadedBlobs < missing.length + 40);
  const dest = tmp('chunked-kill-out');
  const res = await agent(['restore', '--profile', s.l.profile, '--all', '--to', dest]);
  assert.equal(res.code, 0, res.stderr);
  const back = join(dest, 'datastore', 'recording.ogg');
  assert.equal(statSync(back).size, SIZE);
  assert.ok(readFileSync(back).equals(readFileSync(s.big)), 'restored byte for byte');
  return dest;
}

test('kill -9 of the agent between batches of a chunked file: the rerun sends only the missing chunks', async (t) => {
  const s = await setup('chunkkill-agent', 'SHF7000801');
  const proc = spawn(
    process.execPath,
    [...NODE_FLAGS, join(REPO, 'bin', 'ds-backup.js'), 'backup', '--profile', s.l.profile],
    {
      stdio: 'ignore',
    },
  );
  const closed = new Promise<void>((r) => proc.on('close', () => r()));
  await midway(s.stored, s.chunks.length);
  await killHard(proc);
  await closed;
  const dest = await rerunAndRestore(s, t);
  await killHard(s.srv.proc);
  cleanup(s.root, s.l.profile, dest);
});

test('kill -9 of the server between batches of a chunked file: the next backup sends only the missing chunks', async (t) => {
  const s = await setup('chunkkill-server', 'SHF7000802');
  const run = agent(['backup', '--profile', s.l.profile]);
  await midway(s.stored, s.chunks.length);
  await killHard(s.srv.proc);
  const first = await run;
  assert.notEqual(first.code, 0, 'the run fails when its server dies');
  const srv = await startChild(s.root, Number(new URL(s.srv.url).port));
  s.srv = srv;
  const dest = await rerunAndRestore(s, t);
  await killHard(srv.proc);
  cleanup(s.root, s.l.profile, dest);
});
