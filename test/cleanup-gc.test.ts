/**
 * Garbage collection while backups run: what the server told a client it
 * already has (or what the client just uploaded) survives a cleanup until
 * that client commits — with cleanup inside the server process and as a
 * separate `ds-backup-server cleanup` process. Also: a crash mid-GC (files
 * left in gc-trash/) is finished by the next run, and verify finds damage.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, renameSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { frameHeader } from '../src/protocol/frames.js';
import { runCleanup, DEFAULT_CLEANUP } from '../src/server/retention/cleanup.js';
import { verifyStore } from '../src/server/retention/verify.js';
import { writeLeaseFile } from '../src/server/admission/lease-file.js';
import { cleanup, serverCli, startServer, type TestServer } from './helpers/harness.js';
import { ageStore, assertRestorable } from './helpers/sim.js';
import { blobFile, putBlob, treeOf } from './helpers/store-files.js';
import { proofHmac } from '../src/protocol/proof.js';
import type { MissingAnswer, ProofsAnswer } from '../src/protocol/api-types.js';

let srv: TestServer;
let token: string;
before(async () => {
  srv = await startServer();
  token = srv.ctx.store.registry.register({ serial: 'SHF0000GC001', nickname: 'gc' }).token;
});
after(async () => {
  await srv.close();
  cleanup(srv.root);
});

const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
const noQuota = () => ({ totalBytes: 1e12, usedBytes: 1e9, totalInodes: 1e9, usedInodes: 1e3 });

async function api<T>(
  method: string,
  path: string,
  body?: unknown,
  raw?: Buffer,
): Promise<{ status: number; json: T }> {
  const res = await fetch(`${srv.url}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(raw ? { 'content-type': 'application/octet-stream' } : body ? { 'content-type': 'application/json' } : {}),
    },
    body: raw ? new Uint8Array(raw) : body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  return { status: res.status, json: (text ? JSON.parse(text) : null) as T };
}

/** A blob put straight into the pool, referenced by nothing, an hour old. */
async function garbage(text: string): Promise<string> {
  const data = Buffer.from(text);
  const id = sha(data);
  await putBlob(srv.ctx.store, id, data);
  return id;
}

async function upload(data: Buffer, lease: string) {
  const frame = Buffer.concat([frameHeader(sha(data), 0, data.length), data]);
  return api<{ stored: number }>('POST', `/api/v1/backups/${lease}/blobs`, undefined, frame);
}

describe('GC during an in-flight backup', () => {
  for (const where of ['in the server process', 'as a separate cleanup process'] as const) {
    test(`keeps what a client was told exists and what it uploaded (${where})`, async () => {
      const store = srv.ctx.store;
      const told = await garbage(`told ${where}`);
      const other = await garbage(`nobody asked ${where}`);
      ageStore(store, 4 * 3_600_000);
      const fresh = Buffer.from(`fresh upload ${where}`);
      const lease = (await api<{ lease: string }>('POST', '/api/v1/backups')).json.lease;
      const m = await api<MissingAnswer>('POST', `/api/v1/backups/${lease}/missing`, {
        ids: [told, sha(fresh)],
        prove: true,
      });
      assert.deepEqual(m.json.missing, [sha(fresh)], 'the garbage blob is reported present');
      // Present but never sent by this laptop: proved (protocol/proof.ts) so the commit may cite it.
      const { nonce, ids } = m.json.challenge!;
      assert.deepEqual(ids, [told]);
      const proof = proofHmac(nonce).update(`told ${where}`).digest('hex');
      const p = await api<ProofsAnswer>('POST', `/api/v1/backups/${lease}/proofs`, {
        nonce,
        proofs: { [told]: proof },
      });
      assert.deepEqual(p.json, { proven: [told], refused: [] });
      assert.equal((await upload(fresh, lease)).json.stored, 1);
      // A long backup: its lease was granted an hour ago and the claims were made just after.
      const l = srv.ctx.admission.active().find((x) => x.id === lease)!;
      l.grantedAt -= 3_600_000;
      writeLeaseFile(srv.ctx);
      const t = (l.grantedAt + 1000) / 1000;
      utimesSync(blobFile(store, told), t, t);
      utimesSync(blobFile(store, sha(fresh)), t, t);

      if (where === 'in the server process') {
        await runCleanup(store, DEFAULT_CLEANUP, {
          disk: noQuota,
          fullGc: true,
          leaseGrants: () => srv.ctx.admission.active().map((l) => l.grantedAt),
        });
      } else {
        const r = await serverCli(['cleanup', '--root', srv.root, '--force', '--full-gc', '--json']);
        assert.equal(r.code, 0, r.stderr);
      }
      assert.ok((await store.pool.blobSize(told)) >= 0, 'blob reported present survives');
      assert.ok((await store.pool.blobSize(sha(fresh))) >= 0, 'blob uploaded under the lease survives');
      assert.equal(await store.pool.blobSize(other), -1, 'garbage nobody was told about is collected');

      const tree = treeOf([
        ['told.txt', told, `told ${where}`.length],
        ['fresh.txt', sha(fresh), fresh.length],
      ]);
      const c = await api<{ snapshots: unknown[] }>('POST', `/api/v1/backups/${lease}/commit`, {
        sources: [{ source: 'datastore', root: tree.id, trees: { [tree.id]: tree.text } }],
      });
      assert.equal(c.status, 200, JSON.stringify(c.json));
      const dev = store.registry.bySerial('SHF0000GC001')!;
      assertRestorable(store, dev.account_id, [tree.id], [], 'committed snapshot');
    });
  }

  test('a crash mid-GC leaves files in gc-trash/; the next run puts back what is referenced and deletes the rest', async () => {
    const store = srv.ctx.store;
    const dev = store.registry.bySerial('SHF0000GC001')!;
    const roots = store.db
      .prepare('SELECT root FROM snapshots WHERE account_id = ?')
      .pluck()
      .all(dev.account_id) as string[];
    const live = store.db
      .prepare(
        'SELECT id FROM account_blobs WHERE account_id = ? AND size > 0 AND id NOT IN (SELECT root FROM snapshots) LIMIT 1',
      )
      .pluck()
      .get(dev.account_id) as string;
    const junk = await garbage('junk for the trash');
    const trash = join(store.root, 'gc-trash');
    mkdirSync(trash, { recursive: true });
    renameSync(blobFile(store, live), join(trash, `b-${live}`));
    renameSync(blobFile(store, junk), join(trash, `b-${junk}`));
    ageStore(store);
    const r = await runCleanup(store, DEFAULT_CLEANUP, { disk: noQuota, slackMs: 0, fullGc: true });
    assert.equal(r.gc[0].restoredFromTrash, 2);
    assert.ok((await store.pool.blobSize(live)) >= 0, 'referenced blob restored');
    assert.equal(await store.pool.blobSize(junk), -1, 'garbage deleted');
    for (const root of roots) assertRestorable(store, dev.account_id, [root]);
  });

  test('verify reports a damaged blob and the snapshots it affects', async () => {
    const store = srv.ctx.store;
    const dev = store.registry.bySerial('SHF0000GC001')!;
    const victim = store.db
      .prepare(
        'SELECT id FROM account_blobs WHERE account_id = ? AND size > 0 AND id NOT IN (SELECT root FROM snapshots) LIMIT 1',
      )
      .pluck()
      .get(dev.account_id) as string;
    const path = blobFile(store, victim);
    chmodSync(path, 0o644);
    writeFileSync(path, 'bit rot');
    const v = await verifyStore(store);
    assert.equal(v.damaged.length, 1);
    assert.equal(v.damaged[0].id, victim);
    assert.ok(v.damaged[0].snapshots.length >= 1);
    const cli = await serverCli(['verify', '--root', srv.root, '--json']);
    assert.equal(cli.code, 1);
    assert.equal((JSON.parse(cli.stdout) as { damaged: Array<{ id: string }> }).damaged[0].id, victim);
    assert.ok(existsSync(path));
  });
});
