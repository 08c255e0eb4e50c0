/**
 * Resume: the agent is killed (SIGKILL) halfway through a large resumable
 * upload; the server keeps incoming/<id>.<serial>.part; the next run sends
 * only the missing bytes and completes. Along the way: the run lock excludes
 * a second run while the first uploads (exit 5) and dies with the killed
 * agent. The server's --bandwidth cap paces the upload so "halfway" is
 * reached reliably.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { agent, cleanup, NODE_FLAGS, REPO, registered, startServer, type TestServer } from './helpers/harness.js';
import { blobFile } from './helpers/store-files.js';

const SIZE = 32 * 1024 * 1024;
/** The big file is kept whole (one resumable upload), not cut into chunks: this test is about that path. */
const WHOLE = { DSB_WHOLE_FILES: '1' };
const RATE = 2 * 1024 * 1024; // 16 s for the big file: room for a loaded machine between the 40 % mark and the kill

let srv: TestServer;
before(async () => {
  srv = await startServer({ bandwidth: RATE });
});
after(async () => {
  await srv.close();
  cleanup(srv.root);
});

function size(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return -1;
  }
}

test('kill -9 mid-upload, rerun: only the missing bytes are sent', async (t) => {
  const serial = 'SHF7000960';
  const { profile } = await registered(srv.url, serial, { entries: 6 });
  const big = randomBytes(SIZE);
  writeFileSync(join(profile, 'datastore', 'big-recording.ogg'), big);
  const id = createHash('sha256').update(big).digest('hex');
  const part = join(srv.root, 'incoming', `${id}.${serial}.part`);

  const first = spawn(
    process.execPath,
    [...NODE_FLAGS, join(REPO, 'bin', 'ds-backup.js'), 'run', '--no-sleep', '--profile', profile, '--json'],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...WHOLE } },
  );
  const firstClosed = new Promise<number | null>((res) => first.on('close', (code, sig) => res(sig ? null : code)));
  // The lock check runs as soon as the upload has begun, not after the 40 % mark: a second agent's start-up
  // on a loaded machine must not eat the time left before the first one finishes.
  for (let i = 0; i < 1200 && size(part) <= 0; i++) await sleep(50);
  const second = await agent(['run', '--no-sleep', '--profile', profile], WHOLE);
  assert.equal(second.code, 5, 'a second run exits at once while the first holds the lock');
  assert.match(second.stderr, /another ds-backup run holds/);

  for (let i = 0; i < 1200 && size(part) < SIZE * 0.4; i++) await sleep(50);
  const atKill = size(part);
  assert.ok(atKill >= SIZE * 0.4 && atKill < SIZE, `part file at ${atKill} of ${SIZE} bytes when killing`);
  first.kill('SIGKILL');
  assert.equal(await firstClosed, null, 'killed by the signal');
  // Let the server notice the broken connection and stop appending.
  let kept = size(part);
  for (let i = 0; i < 100; i++) {
    await sleep(100);
    const now = size(part);
    if (now === kept) break;
    kept = now;
  }
  assert.ok(kept >= atKill && kept < SIZE, `the server kept ${kept} bytes`);
  assert.equal(await srv.ctx.store.pool.blobSize(id), -1, 'not complete yet');

  const rerun = await agent(['run', '--no-sleep', '--profile', profile, '--json'], WHOLE);
  assert.equal(rerun.code, 0, `the lock died with the killed agent; ${rerun.stderr}`);
  const out = JSON.parse(rerun.stdout) as {
    outcome: string;
    backup: { sentBytes: number; uploadedBlobs: number; hashedFiles: number };
  };
  assert.equal(out.outcome, 'ok');
  const missing = SIZE - kept;
  t.diagnostic(
    `killed at ${atKill} of ${SIZE} bytes; server kept ${kept}; rerun sent ${out.backup.sentBytes} bytes (${missing} missing)`,
  );
  assert.ok(out.backup.sentBytes >= missing, `sent ${out.backup.sentBytes}, missing ${missing}`);
  assert.ok(
    out.backup.sentBytes < missing + 64 * 1024,
    `sent ${out.backup.sentBytes} bytes for ${missing} missing: only the rest of the big file plus a little JSON`,
  );
  assert.equal(out.backup.uploadedBlobs, 1, 'the small files the first run stored are not sent again');
  assert.equal(out.backup.hashedFiles, 0, 'nothing re-hashed: the first run saved its hash cache');
  assert.equal(await srv.ctx.store.pool.blobSize(id), SIZE);
  assert.equal(
    createHash('sha256')
      .update(readFileSync(blobFile(srv.ctx.store, id)))
      .digest('hex'),
    id,
  );
  assert.equal(size(part), -1, 'part file gone');
  assert.ok(srv.ctx.bandwidth.waitedMs > 0, 'the bandwidth cap paced the uploads');
  cleanup(profile);
});
