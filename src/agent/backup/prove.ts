/**
 * prove — the laptop's side of proof of possession (protocol/proof.ts).
 *
 * The server has some blobs this account never sent (a classmate's copy of
 * the same worksheet): it answers `missing` with a challenge, a fresh nonce
 * and those ids. For each, this reads the blob's bytes from the file the
 * scan found them in (a chunk: its range of the file), through one reused
 * 1 MiB buffer, and sends HMAC-SHA256(nonce, bytes) instead of the bytes.
 * A file that no longer has its scanned size and mtime raises
 * FileChangedError (the run scans again), as an upload would.
 *
 * What the server refuses, a challenge it no longer knows (409: it
 * restarted, say) and blobs under PROVE_MIN bytes (a proof is no cheaper)
 * come back as blobs to upload.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { AppError } from '../../platform/errors.js';
import { API } from '../../protocol/api.js';
import type { Challenge } from '../../protocol/api-types.js';
import { PROVE_MIN } from '../../protocol/limits.js';
import { proofHmac } from '../../protocol/proof.js';
import type { ApiClient } from '../client.js';
import { FileChangedError, type UploadItem } from './upload.js';

const SLICE = 1024 * 1024;

async function unchanged(fh: FileHandle, it: UploadItem): Promise<void> {
  const st = await fh.stat();
  if (st.size !== (it.fileSize ?? it.size) || st.mtimeMs !== it.mtime) throw new FileChangedError(it.path);
}

/** hex HMAC-SHA256 under `nonce` of the blob's bytes (the scanned range of its file), read through `buf`. */
export async function proofOf(nonce: string, it: UploadItem, buf: Buffer): Promise<string> {
  const h = proofHmac(nonce);
  const fh = await open(it.path, 'r');
  try {
    await unchanged(fh, it);
    const at = it.offset ?? 0;
    for (let off = 0; off < it.size;) {
      const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, it.size - off), at + off);
      if (bytesRead <= 0) throw new FileChangedError(it.path);
      h.update(buf.subarray(0, bytesRead));
      off += bytesRead;
    }
    await unchanged(fh, it);
  } finally {
    await fh.close();
  }
  return h.digest('hex');
}

export interface ProveResult {
  /** Now owned by the account: nothing to send. */
  proven: UploadItem[];
  /** Upload these. */
  upload: UploadItem[];
}

/** Answers one challenge; what could not be proved is returned for upload. */
export async function answerChallenge(
  client: ApiClient,
  lease: string,
  challenge: Challenge,
  byId: ReadonlyMap<string, UploadItem>,
): Promise<ProveResult> {
  const out: ProveResult = { proven: [], upload: [] };
  const proofs: Record<string, string> = {};
  const asked: UploadItem[] = [];
  let buf: Buffer | null = null; // one per challenge: challenges of concurrent asks are answered at once
  for (const id of challenge.ids) {
    const it = byId.get(id);
    if (!it) continue; // not offered in this request: nothing to do
    if (it.size < PROVE_MIN) out.upload.push(it);
    else {
      // Sequential: one slice buffer, and a slow disk is not asked for many files at once.
      buf ??= Buffer.allocUnsafe(SLICE);
      proofs[id] = await proofOf(challenge.nonce, it, buf);
      asked.push(it);
    }
  }
  if (!asked.length) return out;
  let proven = new Set<string>();
  try {
    const r = await client.call(API.proofs, { lease }, { json: { nonce: challenge.nonce, proofs } });
    proven = new Set(r.proven);
  } catch (e) {
    if (!(e instanceof AppError && e.code === 'conflict')) throw e; // else: the server forgot it; upload instead
  }
  for (const it of asked) (proven.has(it.id) ? out.proven : out.upload).push(it);
  return out;
}
