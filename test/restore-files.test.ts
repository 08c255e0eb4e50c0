/**
 * Full restore of the awkward cases, end to end with the real server and
 * agent: files larger than one frame slice (streamed to disk as they
 * arrive), files sharing a blob with different modes and mtimes, empty
 * files, modes the umask would strip, read-only files, links, deep empty
 * folders; a re-run into a damaged folder (temp + rename over what is
 * there, a folder where a file belongs); a damaged pool blob (the restore
 * fails and leaves no file that looks restored). Plus the frame parser on
 * every possible chunk split.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readFileSync,
  statSync,
  symlinkSync,
  unlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import {
  agent,
  assertSameTree,
  backupJson,
  cleanup,
  JOURNAL_EXCLUDES,
  registered,
  serverForSuite,
  tmp,
  type TestServer,
} from './helpers/harness.js';
import { FrameParser } from '../src/protocol/frame-parser.js';
import { frameHeader } from '../src/protocol/frames.js';
import { sha256Hex } from '../src/protocol/hash.js';
import { cutAll } from '../src/protocol/fastcdc.js';
import { blobFile } from './helpers/store-files.js';

let srv: TestServer;
serverForSuite((s) => (srv = s));

/** Deterministic bytes that do not compress (a hash chain). */
function bytes(n: number, seed: string): Buffer {
  const out = Buffer.alloc(n);
  let h = createHash('sha256').update(seed).digest();
  for (let off = 0; off < n; off += 32) {
    h.copy(out, off);
    h = createHash('sha256').update(h).digest();
  }
  return out;
}

function put(path: string, data: Buffer, mode: number, mtimeSec: number): void {
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, data);
  chmodSync(path, mode);
  utimesSync(path, mtimeSec, mtimeSec);
}

describe('full restore, awkward files', () => {
  test('large, shared, empty, odd-mode and linked files come back exactly; a re-run repairs only what is wrong; a damaged blob fails the restore', async () => {
    const { profile } = await registered(srv.url, 'SHF7000600', { entries: 6 });
    const ds = join(profile, 'datastore');
    const big = bytes(3 * 1024 * 1024 + 12345, 'big'); // spans several of the server's 1 MiB buffers and the agent's spool size
    put(join(ds, 'big', 'a.bin'), big, 0o640, 1_600_000_000.123);
    put(join(ds, 'big', 'copy.bin'), big, 0o600, 1_600_000_100.5);
    const small = bytes(200, 'small');
    put(join(ds, 'small', 'dup1'), small, 0o644, 1_500_000_000);
    put(join(ds, 'small', 'dup2'), small, 0o604, 1_500_000_001);
    put(join(ds, 'small', 'empty'), Buffer.alloc(0), 0o644, 1_500_000_002);
    put(join(ds, 'small', 'rw'), bytes(100, 'rw'), 0o664, 1_500_000_003);
    put(join(ds, 'small', 'ro'), bytes(5000, 'ro'), 0o444, 1_500_000_004);
    put(join(ds, 'small', 'exec'), bytes(70_000, 'exec'), 0o755, 1_500_000_005);
    symlinkSync('dup1', join(ds, 'small', 'link'));
    mkdirSync(join(ds, 'deep', 'a', 'b', 'c'), { recursive: true });
    chmodSync(join(ds, 'deep', 'a', 'b', 'c'), 0o700);
    for (const [d, t] of [
      ['deep/a/b/c', 1_400_000_000],
      ['deep/a/b', 1_400_000_001],
      ['deep/a', 1_400_000_002],
      ['deep', 1_400_000_003],
      ['small', 1_400_000_004],
      ['big', 1_400_000_005],
    ] as const)
      utimesSync(join(ds, d), t, t);
    await backupJson(profile);

    const out = tmp('out');
    const umask = process.umask(0o027); // the agent inherits it: modes must not depend on it
    const r = await agent(['restore', '--profile', profile, '--all', '--to', out, '--json']).finally(() =>
      process.umask(umask),
    );
    assert.equal(r.code, 0, r.stderr);
    const rd = join(out, 'datastore');
    assertSameTree(ds, rd, JOURNAL_EXCLUDES);
    assert.equal(statSync(join(rd, 'small', 'rw')).mode & 0o777, 0o664, 'a mode the umask would strip is restored');

    // Damage the restored copy: same size but other bytes, a folder where a file belongs, a missing file, a newer local file.
    const damaged = Buffer.from(big);
    damaged[big.length - 1] ^= 1;
    writeFileSync(join(rd, 'big', 'a.bin'), damaged);
    unlinkSync(join(rd, 'small', 'dup2'));
    mkdirSync(join(rd, 'small', 'dup2', 'inner'), { recursive: true });
    unlinkSync(join(rd, 'big', 'copy.bin'));
    chmodSync(join(rd, 'small', 'exec'), 0o755);
    writeFileSync(join(rd, 'small', 'exec'), 'edited later');
    const again = await agent(['restore', '--profile', profile, '--all', '--to', out, '--json']);
    assert.equal(again.code, 0, again.stderr);
    const res = JSON.parse(again.stdout) as { restored: Array<{ source: string; written: number; skipped: number }> };
    assert.equal(
      res.restored.find((x) => x.source === 'datastore')!.written,
      4,
      'only the four damaged files are written again',
    );
    assertSameTree(ds, rd, JOURNAL_EXCLUDES);

    // A pool blob damaged on the server (same size; here a chunk of the big
    // file, which is stored as content-defined chunks): the restore fails,
    // and leaves no file that would look restored.
    const first = cutAll(big)[0];
    const chunk = big.subarray(first.offset, first.size);
    const blob = blobFile(srv.ctx.store, sha256Hex(chunk));
    chmodSync(blob, 0o644);
    const bad = Buffer.from(readFileSync(blob));
    bad[1000] ^= 0xff;
    writeFileSync(blob, bad);
    const out2 = tmp('out');
    const broken = await agent(['restore', '--profile', profile, '--all', '--to', out2]);
    assert.notEqual(broken.code, 0, 'a damaged blob fails the restore');
    assert.match(broken.stderr, /damaged/);
    for (const f of ['a.bin', 'copy.bin']) {
      const p = join(out2, 'datastore', 'big', f);
      assert.ok(!existsSync(p) || readFileSync(p).equals(big), `${f}: absent or right, never wrong bytes`);
    }
    writeFileSync(blob, chunk);
    cleanup(profile, out, out2);
  });
});

describe('FrameParser', () => {
  const payloads = [Buffer.alloc(0), bytes(1, 'a'), bytes(37, 'b'), bytes(100, 'c'), Buffer.alloc(0), bytes(5000, 'd')];
  const stream = Buffer.concat(payloads.flatMap((p) => [frameHeader(sha256Hex(p), 0, p.length), p]));

  function parse(chunkSize: number, data = stream, max = 1 << 20) {
    const got: Array<{ id: string; parts: Buffer[] }> = [];
    let open: { id: string; parts: Buffer[] } | null = null;
    const p = new FrameParser(
      {
        start: (id, flags, length) => {
          assert.equal(flags, 0);
          assert.ok(length <= max);
          open = { id, parts: [] };
        },
        data: (piece) => {
          assert.ok(piece.length > 0, 'never an empty piece');
          open!.parts.push(Buffer.from(piece));
        },
        end: () => {
          got.push(open!);
          open = null;
        },
      },
      max,
    );
    for (let i = 0; i < data.length; i += chunkSize) p.push(data.subarray(i, i + chunkSize));
    p.finish();
    return got;
  }

  test('any chunking yields the same frames', () => {
    for (const size of [1, 2, 3, 36, 37, 38, 64, 1000, stream.length]) {
      const got = parse(size);
      assert.equal(got.length, payloads.length, `chunks of ${size}`);
      got.forEach((f, i) => {
        assert.equal(f.id, sha256Hex(payloads[i]));
        assert.ok(Buffer.concat(f.parts).equals(payloads[i]), `payload ${i} with chunks of ${size}`);
      });
    }
  });

  test('a stream cut inside a frame, or a frame over the limit, is refused', () => {
    assert.throws(() => parse(7, stream.subarray(0, stream.length - 1)), /ended inside a frame/);
    assert.throws(() => parse(7, stream.subarray(0, 20)), /ended inside a frame/);
    assert.throws(() => parse(64, stream, 4000), /exceeds/);
  });
});
