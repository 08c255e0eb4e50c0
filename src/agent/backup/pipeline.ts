/**
 * pipeline — sends the server what it lacks while the scan is still going.
 *
 * The scan offers each blob a changed folder names (offer). Offers are
 * gathered and the server is asked which it lacks, a few thousand ids per
 * request; the missing small blobs queue up and leave in framed batches
 * (upload.ts) as soon as a batch is full; large blobs go through resumable
 * uploads as they are found; at most PARALLEL requests in flight. So the server
 * hashes and stores the first files while the laptop still hashes the last
 * ones, and nothing waits for a whole-source scan.
 *
 * Trees of changed folders go the same way when the server takes them ahead
 * of the commit (`treesAhead`, tree-stash.ts on the server): a few hundred
 * KB per request, so the server checks and writes them while blobs still
 * arrive and the commit carries only what was not sent (`sentTrees`).
 *
 * Blobs the server has but this account never sent come back as a challenge
 * (protocol/proof.ts): they are proved from the local bytes (prove.ts)
 * instead of sent, and only what the server refuses is uploaded.
 *
 * pause() is the scan's side of it: a promise to wait on when uploads are
 * waiting for the event loop (every few milliseconds while work is in
 * flight), or when a full batch cannot leave yet. The first failure of any
 * request is kept and thrown by pause() or finish().
 */
import { API } from '../../protocol/api.js';
import {
  ASK_BYTES,
  ASK_COUNT,
  BATCH_BLOB_MAX,
  BATCH_BYTES,
  BATCH_COUNT,
  TREE_AHEAD_MAX,
  TREES_AHEAD_BATCH,
} from '../../protocol/limits.js';
import type { ApiClient } from '../client.js';
import { sendBatch, sendLarge, type UploadItem, type UploadStats } from './upload.js';
import { answerChallenge } from './prove.js';
import { RecentSet } from '../../platform/recent-set.js';
import { SeqRanges } from './seq-ranges.js';

export interface PipelineLimits {
  /** Ask the server once this many blobs (or askBytes of them) are pending. */
  askCount: number;
  askBytes: number;
  /** A batch leaves once it holds this many bytes (or BATCH_COUNT blobs). */
  batchBytes: number;
}

const LIMITS: PipelineLimits = { askCount: ASK_COUNT, askBytes: ASK_BYTES, batchBytes: BATCH_BYTES };
const PARALLEL = 2;
/** Longest stretch of scanning before in-flight uploads get the event loop. */
const SLICE_MS = 4;

export class BlobPipeline {
  readonly stats: UploadStats = { blobs: 0, bytes: 0, wireBytes: 0, proven: 0, provenBytes: 0 };
  /** Ids offered lately (bounded: the agent's memory must not grow with the Journal). */
  private offered = new RecentSet(8192);
  private pending: UploadItem[] = [];
  private pendingBytes = 0;
  private queue: UploadItem[] = [];
  private queueBytes = 0;
  private large: UploadItem[] = [];
  private asks = new Set<Promise<void>>();
  private sends = new Set<Promise<void>>();
  private failure: unknown = null;
  private sliceStart = performance.now();
  private readonly limits: PipelineLimits;
  private trees: Array<[string, string, number]> = [];
  private treeBytes = 0;
  /** Trees the server has taken ahead of the commit, by their index in the scan's cache file. */
  readonly sentTrees = new SeqRanges();
  /** The server takes trees ahead of the commit (POST /backups/:lease/trees). */
  treesAhead = false;

  constructor(
    private readonly client: ApiClient,
    private readonly lease: string,
    private readonly onMissing: (bytes: number) => void = () => {},
    private readonly progress: (bytes: number) => void = () => {},
    limits: Partial<PipelineLimits> = {},
  ) {
    this.limits = { ...LIMITS, ...limits };
  }

  offer(item: UploadItem): void {
    if (this.offered.has(item.id)) return;
    this.offered.add(item.id);
    this.pending.push(item);
    this.pendingBytes += item.size;
    if (this.pending.length >= this.limits.askCount || this.pendingBytes >= this.limits.askBytes) this.ask();
  }

  /** seq: the folder's index in the cache file; each batch is acknowledged as one range of them. */
  offerTree(id: string, text: string, seq: number): void {
    if (!this.treesAhead) return;
    // A huge folder's tree goes with the commit (its batch is cut before it, so no acknowledged range spans it).
    if (text.length > TREE_AHEAD_MAX) return this.sendTrees();
    this.trees.push([id, text, seq]);
    this.treeBytes += text.length;
    if (this.treeBytes >= TREES_AHEAD_BATCH) this.sendTrees();
  }

  private sendTrees(): void {
    if (!this.trees.length) return;
    const batch = this.trees;
    this.trees = [];
    this.treeBytes = 0;
    const req = this.client.call(
      API.treesAhead,
      { lease: this.lease },
      {
        json: { trees: Object.fromEntries(batch.map(([id, text]) => [id, text])) },
      },
    );
    // Sending trees ahead only saves the commit time: if the server refuses them
    // (its stash is full, say), the commit carries them instead.
    const sent = req.then(
      () => this.sentTrees.add(batch[0][2], batch[batch.length - 1][2]),
      () => {},
    );
    this.track(this.asks, sent);
  }

  pause(): Promise<void> | null {
    if (this.failure) throw this.failure;
    if (this.sends.size >= PARALLEL && this.batchReady()) return Promise.race(this.sends);
    // Every few ms, even with nothing in flight: the lease's heartbeat timer must run.
    if (performance.now() - this.sliceStart < SLICE_MS) return null;
    return new Promise((ok) =>
      setImmediate(() => {
        this.sliceStart = performance.now();
        ok();
      }),
    );
  }

  /** Asks for what is still pending, sends everything missing, and returns the totals. */
  async finish(): Promise<UploadStats> {
    this.ask();
    this.sendTrees();
    while (this.asks.size) await this.settled(this.asks);
    this.send(true);
    while (this.sends.size) {
      await this.settled(this.sends);
      this.send(true);
    }
    this.check();
    return this.stats;
  }

  private check(): void {
    if (this.failure) throw this.failure;
  }

  private async settled(set: Set<Promise<void>>): Promise<void> {
    await Promise.race(set);
    this.check();
  }

  private track(set: Set<Promise<void>>, work: Promise<void>, after?: () => void): void {
    const p: Promise<void> = work
      .catch((e) => void (this.failure ??= e))
      .finally(() => {
        set.delete(p);
        after?.();
      });
    set.add(p);
  }

  private ask(): void {
    if (!this.pending.length) return;
    const items = this.pending;
    this.pending = [];
    this.pendingBytes = 0;
    this.track(this.asks, this.askNow(items));
  }

  private async askNow(items: UploadItem[]): Promise<void> {
    const byId = new Map(items.map((i) => [i.id, i]));
    const r = await this.client.call(
      API.missing,
      { lease: this.lease },
      {
        json: { ids: [...byId.keys()], prove: true },
      },
    );
    const send = r.missing.map((id) => byId.get(id));
    if (r.challenge) {
      const p = await answerChallenge(this.client, this.lease, r.challenge, byId);
      this.stats.proven += p.proven.length;
      this.stats.provenBytes += p.proven.reduce((a, it) => a + it.size, 0);
      send.push(...p.upload);
    }
    let bytes = 0;
    for (const it of send) {
      if (!it) continue;
      bytes += it.size;
      if (it.size > BATCH_BLOB_MAX) this.large.push(it);
      else {
        this.queue.push(it);
        this.queueBytes += it.size;
      }
    }
    this.onMissing(bytes);
    this.send(false);
  }

  private batchReady(): boolean {
    return this.queueBytes >= this.limits.batchBytes || this.queue.length >= BATCH_COUNT;
  }

  /**
   * Starts full batches (or, at the end, whatever is queued) and large
   * blobs' resumable uploads while fewer than PARALLEL requests are in flight.
   */
  private send(flush: boolean): void {
    while (!this.failure && this.sends.size < PARALLEL) {
      if (this.queue.length && (flush || this.batchReady())) this.startBatch();
      else if (this.large.length) {
        const it = this.large.shift()!;
        this.track(this.sends, sendLarge(this.client, this.lease, it, this.stats, this.progress), () =>
          this.send(false),
        );
      } else break;
    }
  }

  private startBatch(): void {
    const batch: UploadItem[] = [];
    let bytes = 0;
    while (
      this.queue.length &&
      batch.length < BATCH_COUNT &&
      (!batch.length || bytes + this.queue[0].size <= this.limits.batchBytes)
    ) {
      const it = this.queue.shift()!;
      batch.push(it);
      bytes += it.size;
    }
    this.queueBytes -= bytes;
    this.track(this.sends, sendBatch(this.client, this.lease, batch, this.stats, this.progress), () =>
      this.send(false),
    );
  }
}
