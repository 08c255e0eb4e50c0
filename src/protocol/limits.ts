/**
 * limits — every size and count the two sides of /api/v1 agree on, in one
 * place (issue #11). The server enforces the `*_MAX` / `*_BODY` figures
 * (Fastify bodyLimit, JSON-schema maxItems, the frame reader); the agent's
 * batch sizes are chosen below them (test/protocol-contract.test.ts checks
 * that they stay below). Changing a server figure is a protocol change: an
 * older agent may still send up to the old figure.
 */

const KiB = 1024;
const MiB = 1024 * KiB;

// ---- server-wide ----
/** Default JSON body limit of every route that does not say otherwise. */
export const JSON_BODY = 64 * KiB;
/** POST /devices (unauthenticated): a serial, a nickname, a restore code. */
export const REGISTER_BODY = 4 * KiB;
/**
 * A body must arrive within BODY_GRACE_SEC plus its length at BODY_MIN_RATE
 * bytes per second (a slow sender is cut off; http/guard.ts). A connection
 * idle for IDLE_SEC is closed.
 */
export const BODY_GRACE_SEC = 30;
export const BODY_MIN_RATE = 32 * KiB;
export const IDLE_SEC = 120;

// ---- backups: small blobs as frames (POST /backups/:lease/blobs) ----
/** Largest blob sent inside a batch of frames (after inflating); larger ones take a resumable upload. */
export const BATCH_BLOB_MAX = 4 * MiB;
/** Largest body of one batch of frames the server reads. */
export const BATCH_BODY_MAX = 64 * MiB;
/**
 * The agent's batch: it leaves at this many bytes or BATCH_COUNT blobs.
 * 32 MiB batches, 2 in flight: half the server's per-batch flushes (a `sync -f`
 * child each) of 16 MiB batches; a third request in flight bought no
 * measurable time and cost 8 MiB of slabs.
 */
export const BATCH_BYTES = 32 * MiB;
export const BATCH_COUNT = 8000;

// ---- backups: resumable uploads (PATCH /backups/:lease/uploads/:id) ----
/** Largest Upload-Length the server accepts. */
export const UPLOAD_LENGTH_MAX = 64 * 1024 * MiB;

// ---- backups: which blobs are missing (POST /backups/:lease/missing) ----
export const MISSING_IDS_MAX = 100_000;
/** Fits MISSING_IDS_MAX ids as JSON (~67 bytes each). */
export const MISSING_BODY = 8 * MiB;
/** The agent asks once it holds this many ids or this many bytes of blobs. */
export const ASK_COUNT = 4000;
export const ASK_BYTES = 64 * MiB;

// ---- backups: proofs of possession (POST /backups/:lease/proofs, protocol/proof.ts) ----
/** One proof per challenged id (at most MISSING_IDS_MAX): ~135 bytes of JSON each. */
export const PROOFS_BODY = 16 * MiB;
/** Challenged ids a lease may hold unanswered (older challenges are forgotten first). */
export const CHALLENGE_IDS_MAX = 200_000;
/** The agent uploads a challenged blob this small rather than prove it (a proof costs ~135 bytes). */
export const PROVE_MIN = 256;

// ---- backups: trees sent ahead of the commit (POST /backups/:lease/trees) ----
/** Fits one batch: TREES_AHEAD_BATCH plus one tree of TREE_AHEAD_MAX, JSON escaping at most doubling them. */
export const TREES_AHEAD_BODY = 10 * MiB;
/** The agent sends trees ahead in batches of this many bytes of tree text ... */
export const TREES_AHEAD_BATCH = 512 * KiB;
/** ... and leaves a tree larger than this to the commit. */
export const TREE_AHEAD_MAX = 4 * MiB;

// ---- backups: commit (POST /backups/:lease/commit) ----
const MAX_TREE_BYTES_ = 32 * MiB; // = MAX_TREE_BYTES below
/**
 * What a commit carries: the trees not sent ahead — folders whose tree is
 * over TREE_AHEAD_MAX, or all of them on a full resend (a 1,500-entry,
 * 30,000-file Journal's trees are 3.2 MB of JSON). Sized to hold one tree
 * of MAX_TREE_BYTES with its JSON escaping (at most doubled) and change; the
 * server parses it whole (about three times its size in memory), so this is
 * also what one commit may cost the server.
 */
export const COMMIT_BODY = 2 * MAX_TREE_BYTES_ + 1 * MiB;
export const COMMIT_SOURCES_MAX = 8;
export const RUN_ID_MAX = 64;

// ---- restore: trees and blobs by id (POST /trees, POST /blobs/fetch) ----
export const FETCH_IDS_MAX = 50_000;
/** Fits FETCH_IDS_MAX ids as JSON (~67 bytes each). */
export const FETCH_BODY = 4 * MiB;
/** Tree ids the agent asks for in one POST /trees. */
export const TREE_FETCH_COUNT = 1000;
/** Blob ids the agent asks for in one POST /blobs/fetch: the answer streams, so only the ids bound it. */
export const BLOB_FETCH_COUNT = 5000;
/** Larger blobs travel alone, as a plain GET /blobs/:id stream (a frame's length is 32 bits). */
export const FRAMED_BLOB_MAX = 64 * MiB;

// ---- trees (protocol/tree.ts) ----
export const MAX_TREE_ENTRIES = 200_000;
export const MAX_TREE_BYTES = MAX_TREE_BYTES_;
/**
 * Deepest folder nesting a snapshot may have: its root tree is level 1, and
 * a tree's depth is 1 + the deepest of its subfolders. Real Journals are 4–5
 * levels deep and Documents folders a few dozen at most; a commit whose root
 * is deeper (counting subtrees reused from earlier snapshots) is refused
 * with 422 tree_too_deep, and the agent's scan skips folders below it.
 */
export const MAX_TREE_DEPTH = 256;
/** Files of at most this many bytes travel and are stored inside their folder's tree. */
export const INLINE_MAX = 48;

// ---- reports (POST /api/v1/reports) ----
/** Longest reason the server accepts (the agent cuts its sentence to this). */
export const REPORT_REASON_MAX = 2000;
/** Characters of the reason the server keeps and shows. */
export const REPORT_REASON_KEPT = 300;
/** An `at` older than this (or in the future) is replaced by the server's clock. */
export const REPORT_AGE_MAX_MS = 7 * 86_400_000;
