/**
 * routes/backups — the backup protocol under a lease.
 *
 *   POST   /api/v1/backups                       admission → 201 {lease, leaseTimeout} | 503 + Retry-After
 *   POST   /api/v1/backups/:lease/heartbeat      keeps the lease alive
 *   DELETE /api/v1/backups/:lease                abort, frees the slot
 *   POST   /api/v1/backups/:lease/missing        {ids, prove?} → {missing, challenge?}: blobs to upload or prove
 *   POST   /api/v1/backups/:lease/proofs         {nonce, proofs} → {proven, refused} (protocol/proof.ts)
 *   POST   /api/v1/backups/:lease/blobs          frames of small blobs → {stored, duplicates}
 *   GET    /api/v1/backups/:lease/uploads/:id    → {offset, complete} of a resumable upload
 *   PATCH  /api/v1/backups/:lease/uploads/:id    append at Upload-Offset (Upload-Length = total)
 *   POST   /api/v1/backups/:lease/trees          {trees: {id: text}} → {stashed}: trees sent ahead of the commit (tree-stash.ts)
 *   POST   /api/v1/backups/:lease/commit         {runId, sources:[{source, root, trees}]} → snapshots
 */
import { Readable } from 'node:stream';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { AppError } from '../../../platform/errors.js';
import { API } from '../../../protocol/api.js';
import type { CommitAnswer, LeaseAnswer, MissingAnswer, ProofsAnswer } from '../../../protocol/api-types.js';
import { BLOB_ID_RE } from '../../../protocol/hash.js';
import { NONCE_RE, PROOF_RE } from '../../../protocol/proof.js';
import { SOURCE_RE } from '../../../protocol/names.js';
import {
  COMMIT_BODY,
  COMMIT_SOURCES_MAX,
  MISSING_BODY,
  MISSING_IDS_MAX,
  PROOFS_BODY,
  RUN_ID_MAX,
  TREES_AHEAD_BODY,
  UPLOAD_LENGTH_MAX,
} from '../../../protocol/limits.js';
import { requireDevice } from '../../accounts/auth.js';
import type { ServerContext } from '../context.js';
import { commit, type CommitSource } from '../../ingest/ingest.js';
import { TreeStash } from '../../ingest/tree-stash.js';
import { Challenges } from '../../ingest/challenges.js';
import { grantOwnership, ownsBlob } from '../../catalog/ownership.js';
import { appendUpload, receiveBatch, releaseParts, uploadOffset } from '../../store/uploads.js';
import { diskUsage } from '../../../platform/system.js';

/** Below this many free bytes the disk counts as tight whatever its percentage. */
const TIGHT_FREE_BYTES = 64 * 1024 * 1024;

/** A lease id: 16 random bytes in hex (admission.ts). */
const leaseId = { type: 'string', pattern: '^[0-9a-f]{32}$' };
const leaseParam = {
  type: 'object',
  required: ['lease'],
  properties: { lease: leaseId },
};
const uploadParams = {
  type: 'object',
  required: ['lease', 'id'],
  properties: {
    lease: leaseId,
    id: { type: 'string', pattern: BLOB_ID_RE.source },
  },
};

function header(req: FastifyRequest, name: string): number {
  const v = req.headers[name];
  const n = typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : NaN;
  if (!Number.isSafeInteger(n)) throw new AppError('bad_request', `header ${name} must be a byte count`);
  return n;
}

export function backupRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const { store, admission, bandwidth } = ctx;
  // Upload bodies pass through the server-wide bandwidth cap (a no-op when off).
  const capped = (body: unknown) => bandwidth.throttle(body as AsyncIterable<Buffer>);
  const leased = (req: FastifyRequest<{ Params: { lease: string } }>) => {
    const dev = requireDevice(store.registry, req);
    admission.touch(req.params.lease, dev.id);
    return dev;
  };

  const live = (id: string) => admission.active().some((l) => l.id === id);
  const stash = new TreeStash(store.pool, live);
  const challenges = new Challenges(live);
  const owned = (accountId: number, id: string) => ownsBlob(store.db, accountId, id);
  // A lease that ends without a commit gives back its resumable parts when the disk is tight
  // (else they stay, so the laptop's next run resumes them).
  const tight = () => {
    const d = diskUsage(store.root);
    return d.usedPct > admission.policy.diskLimitPct || d.freeBytes < TIGHT_FREE_BYTES;
  };
  const ended = (serial: string, why: string) => {
    if (!tight()) return;
    const freed = releaseParts(store, serial);
    if (freed) app.log.warn({ serial, freed, why }, 'disk tight: released the partial uploads of an unfinished backup');
  };
  admission.onExpired.push((l) => {
    stash.drop(l.id);
    challenges.drop(l.id);
    ended(l.serial, 'lease expired');
  });

  app.post(API.lease.url, async (req, reply) => {
    const dev = requireDevice(store.registry, req);
    const lease = admission.request(dev.id, dev.serial, { lastSuccess: dev.last_backup_at });
    // treesAhead: this server takes trees before the commit (older agents ignore it).
    const answer: LeaseAnswer = {
      lease: lease.id,
      leaseTimeout: admission.policy.leaseTimeoutMs / 1000,
      treesAhead: true,
    };
    return reply.status(201).send(answer);
  });

  app.post<{ Params: { lease: string }; Body: { trees: Record<string, string> } }>(
    API.treesAhead.url,
    {
      bodyLimit: TREES_AHEAD_BODY,
      schema: {
        params: leaseParam,
        body: {
          type: 'object',
          required: ['trees'],
          additionalProperties: false,
          properties: {
            trees: {
              type: 'object',
              additionalProperties: false,
              patternProperties: { [BLOB_ID_RE.source]: { type: 'string' } },
            },
          },
        },
      },
    },
    async (req) => {
      leased(req);
      return { stashed: await stash.add(req.params.lease, req.body.trees) };
    },
  );

  app.post<{ Params: { lease: string } }>(API.heartbeat.url, { schema: { params: leaseParam } }, async (req) => {
    const l = admission.touch(req.params.lease, requireDevice(store.registry, req).id);
    return { lease: l.id, expiresIn: Math.round((l.expiresAt - Date.now()) / 1000) };
  });

  app.delete<{ Params: { lease: string } }>(API.abort.url, { schema: { params: leaseParam } }, async (req, reply) => {
    const dev = leased(req);
    admission.release(req.params.lease);
    stash.drop(req.params.lease);
    stash.sweep();
    challenges.drop(req.params.lease);
    ended(dev.serial, 'backup aborted');
    return reply.status(204).send();
  });

  app.post<{ Params: { lease: string }; Body: { ids: string[]; prove?: boolean } }>(
    API.missing.url,
    {
      bodyLimit: MISSING_BODY,
      schema: {
        params: leaseParam,
        body: {
          type: 'object',
          required: ['ids'],
          additionalProperties: false,
          properties: {
            ids: { type: 'array', maxItems: MISSING_IDS_MAX, items: { type: 'string', pattern: BLOB_ID_RE.source } },
            prove: { type: 'boolean' },
          },
        },
      },
    },
    async (req): Promise<MissingAnswer> => {
      const dev = leased(req);
      // Absent: upload. Present and owned: nothing. Present, not owned: prove it (an
      // agent that cannot is told to upload it) — protocol/proof.ts.
      const missing: string[] = [];
      const prove: string[] = [];
      const ids = [...new Set(req.body.ids)];
      const sizes = await store.pool.claimBlobs(ids);
      ids.forEach((id, i) => {
        if (sizes[i] < 0) missing.push(id);
        else if (!owned(dev.account_id, id)) (req.body.prove ? prove : missing).push(id);
      });
      if (!prove.length) return { missing };
      return { missing, challenge: challenges.issue(req.params.lease, dev.account_id, prove) };
    },
  );

  app.post<{ Params: { lease: string }; Body: { nonce: string; proofs: Record<string, string> } }>(
    API.proofs.url,
    {
      bodyLimit: PROOFS_BODY,
      schema: {
        params: leaseParam,
        body: {
          type: 'object',
          required: ['nonce', 'proofs'],
          additionalProperties: false,
          properties: {
            nonce: { type: 'string', pattern: NONCE_RE.source },
            proofs: {
              type: 'object',
              maxProperties: MISSING_IDS_MAX,
              additionalProperties: false,
              patternProperties: { [BLOB_ID_RE.source]: { type: 'string', pattern: PROOF_RE.source } },
            },
          },
        },
      },
    },
    async (req): Promise<ProofsAnswer> => {
      const dev = leased(req);
      const ids = challenges.take(req.params.lease, dev.account_id, req.body.nonce);
      const r = await challenges.verify(store.pool, req.body.nonce, ids, req.body.proofs);
      grantOwnership(store.db, dev.account_id, r.proven);
      return r;
    },
  );

  app.post<{ Params: { lease: string } }>(API.blobs.url, { schema: { params: leaseParam } }, async (req) => {
    const dev = leased(req);
    // Bytes that hashed to their id make the account an owner, duplicates included.
    return receiveBatch(store, capped(req.body), (ids) => grantOwnership(store.db, dev.account_id, ids));
  });

  app.get<{ Params: { lease: string; id: string } }>(
    API.uploadOffset.url,
    { schema: { params: uploadParams } },
    async (req) => {
      const dev = leased(req);
      return uploadOffset(store, dev.serial, req.params.id, owned(dev.account_id, req.params.id));
    },
  );

  app.patch<{ Params: { lease: string; id: string } }>(
    API.upload.url,
    { schema: { params: uploadParams } },
    async (req) => {
      const dev = leased(req);
      const offset = header(req, 'upload-offset');
      const length = header(req, 'upload-length');
      if (length > UPLOAD_LENGTH_MAX || offset > length) throw new AppError('too_large', 'upload length out of range');
      const body = bandwidth.rate > 0 ? Readable.from(capped(req.body)) : (req.body as NodeJS.ReadableStream);
      const { id } = req.params;
      return appendUpload(store, dev.serial, id, offset, length, body, owned(dev.account_id, id), () =>
        grantOwnership(store.db, dev.account_id, [id]),
      );
    },
  );

  app.post<{ Params: { lease: string }; Body: { runId?: string; sources: CommitSource[] } }>(
    API.commit.url,
    {
      bodyLimit: COMMIT_BODY,
      schema: {
        params: leaseParam,
        body: {
          type: 'object',
          required: ['sources'],
          additionalProperties: false,
          properties: {
            runId: { type: 'string', maxLength: RUN_ID_MAX },
            sources: {
              type: 'array',
              minItems: 1,
              maxItems: COMMIT_SOURCES_MAX,
              items: {
                type: 'object',
                required: ['source', 'root', 'trees'],
                additionalProperties: false,
                properties: {
                  source: { type: 'string', pattern: SOURCE_RE.source },
                  root: { type: 'string', pattern: BLOB_ID_RE.source },
                  trees: {
                    type: 'object',
                    additionalProperties: false,
                    patternProperties: { [BLOB_ID_RE.source]: { type: 'string' } },
                  },
                },
              },
            },
          },
        },
      },
    },
    async (req): Promise<CommitAnswer> => {
      const dev = leased(req);
      const t0 = performance.now();
      let snaps;
      try {
        snaps = await commit(
          store,
          dev,
          req.body.sources,
          req.body.runId ?? null,
          new Date(),
          stash.get(req.params.lease),
        );
      } catch (e) {
        // Missing blobs: the laptop sends them and commits again under this lease,
        // its stash intact. Anything else ends the stash (a failed publish may have
        // removed its files); a retry then sends its trees with the commit.
        if (!(e instanceof AppError && e.code === 'missing_blobs')) stash.drop(req.params.lease);
        throw e;
      }
      const commitMs = Math.round(performance.now() - t0);
      admission.release(req.params.lease);
      stash.drop(req.params.lease);
      stash.sweep();
      challenges.drop(req.params.lease);
      req.log.info({ serial: dev.serial, snapshots: snaps.map((s) => s.name), commitMs }, 'backup committed');
      return {
        snapshots: snaps.map((s) => ({
          name: s.name,
          source: s.source,
          createdAt: s.createdAt,
          files: s.files,
          bytes: s.bytes,
        })),
        commitMs,
      };
    },
  );
}
