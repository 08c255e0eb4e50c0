/**
 * proof — proof of possession for cross-laptop dedup (issue 16 §4).
 *
 * A blob id is the SHA-256 of public-ish knowledge: whoever learns it (a
 * shared worksheet's hash) must still not be able to cite the blob in a
 * tree and then download someone else's bytes. So an account may cite only
 * blobs it OWNS: sent itself, or proved to have. Spec:
 *
 * 1. `POST /api/v1/backups/:lease/missing {ids, prove: true}` answers
 *    `{missing, challenge?}`. `missing`: ids the account must upload (the
 *    pool lacks them — or, when `prove` is absent, an agent that cannot
 *    answer challenges, the account does not own them). `challenge`:
 *    `{nonce, ids}`, the ids the pool has but the account does not own;
 *    `nonce` is 32 fresh random bytes (64 lowercase hex) from the server.
 *    Ids neither missing nor challenged are owned and present: nothing to do.
 * 2. For each challenged id the laptop can prove, it computes
 *      proof = lowercase hex of HMAC-SHA256(key = the nonce's 32 raw bytes,
 *                                           message = the blob's bytes)
 *    where the blob's bytes are exactly those whose SHA-256 is the id: the
 *    whole file for a whole-file blob, the chunk's bytes for a chunk of a
 *    chunked file (protocol/chunked.ts; each chunk is its own blob and is
 *    proved alone). It sends `POST /api/v1/backups/:lease/proofs
 *    {nonce, proofs: {id: proof}}` (one request per challenge).
 * 3. The server computes the same HMAC over its stored copy (streamed,
 *    bounded memory) and compares with crypto.timingSafeEqual. The answer
 *    `{proven, refused}` lists every challenged id: proven ones are now
 *    owned by the account; refused ones (wrong or no proof) must be uploaded
 *    like missing ones (an upload of bytes that hash to the id always makes
 *    the account an owner).
 * 4. A nonce is single use (a second `proofs` with it answers 409
 *    `conflict`), belongs to the lease and account it was issued to, and
 *    dies with the lease (commit, abort or expiry). The laptop then simply
 *    uploads what it could not prove.
 *
 * The commit refuses (422 `missing_blobs`, the same answer as for a blob the
 * pool lacks, with no size) a tree citing a blob or chunk the account does
 * not own, or a subtree its snapshots do not reference and the commit does
 * not carry. Reads by hash follow only the account's committed trees.
 */
import { createHmac, type Hmac } from 'node:crypto';

/** A challenge nonce and a proof: 32 bytes as 64 lowercase hex digits. */
export const NONCE_RE = /^[0-9a-f]{64}$/;
export const PROOF_RE = NONCE_RE;

/** An HMAC to feed a blob's bytes into; `.digest('hex')` is the proof. */
export function proofHmac(nonce: string): Hmac {
  return createHmac('sha256', Buffer.from(nonce, 'hex'));
}
