/**
 * Issue #16 §3: a full disk on a small tmpfs. A backup meeting ENOSPC — in a
 * resumable upload or in a batch of small blobs — ends with `disk_full`
 * (HTTP 507) and the agent's exit code 6; the unfinished backup's partial
 * uploads are released; the cleanup runs on the full disk; once space is
 * back the next backup succeeds.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { diskUsage } from '../src/platform/system.js';
import { agent, cleanup, registered, serverCli, startServer, tmp, type TestServer } from './helpers/harness.js';

const ROOT = process.getuid?.() === 0;
let mnt: string;
let srv: TestServer;

describe('a full disk', { skip: ROOT ? false : 'needs root to mount a tmpfs' }, () => {
  before(async () => {
    mnt = tmp('tmpfs');
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=20m', 'tmpfs', mnt]);
    srv = await startServer({ root: join(mnt, 'root'), diskLimitPct: 100 });
  });
  after(async () => {
    await srv?.close();
    execFileSync('umount', ['-l', mnt]);
    cleanup(mnt);
  });

  const parts = () => readdirSync(join(srv.root, 'incoming')).filter((n) => n.endsWith('.part'));

  test('a large file: 507 disk_full, exit 6, its partial upload released', async () => {
    const { profile } = await registered(srv.url, 'SHD0000001', { entries: 3, documents: true });
    writeFileSync(join(profile, 'Documents', 'big.bin'), randomBytes(30 * 1024 * 1024));
    const r = await agent(['backup', '--profile', profile]);
    assert.equal(r.code, 6, r.stderr);
    assert.match(r.stderr, /disk full/);
    assert.deepEqual(parts(), [], 'the aborted backup gave its bytes back');
    cleanup(profile);
  });

  test('many small files (batches): the same', async () => {
    const { profile } = await registered(srv.url, 'SHD0000002', { entries: 3, documents: true });
    const dir = join(profile, 'Documents', 'many');
    mkdirSync(dir);
    for (let i = 0; i < 30; i++) writeFileSync(join(dir, `f${i}.bin`), randomBytes(1024 * 1024));
    const r = await agent(['backup', '--profile', profile]);
    assert.equal(r.code, 6, r.stderr);
    assert.match(r.stderr, /disk full/);
    cleanup(profile);
  });

  test('the cleanup runs on a full disk; the next backup after space is back succeeds', async () => {
    const filler = join(mnt, 'filler');
    try {
      execFileSync('dd', ['if=/dev/zero', `of=${filler}`, 'bs=1M', 'count=40'], { stdio: 'ignore' });
    } catch {
      /* ENOSPC: the disk is full, as wanted */
    }
    assert.ok(diskUsage(mnt).freeBytes < 64 * 1024, 'disk full');
    const c = await serverCli(['cleanup', '--root', srv.root, '--force', '--json']);
    assert.equal(c.code, 0, c.stderr + c.stdout);
    rmSync(filler);
    const { profile } = await registered(srv.url, 'SHD0000003', { entries: 5 });
    const r = await agent(['backup', '--profile', profile]);
    assert.equal(r.code, 0, r.stderr);
    cleanup(profile);
  });
});
