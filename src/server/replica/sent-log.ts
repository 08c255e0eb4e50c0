/**
 * sent-log — the local record of what one replica already holds, so a daily
 * run sends only what is new without listing the bucket:
 *
 *   <root>/replica/sent-<tag>.log   one line per object the replica acknowledged:
 *     c <blob|tree> <id>            a content object
 *     r <sha256 of bytes> <path>    a record (the last line for a path wins; clears a tombstone)
 *     g <ms since epoch> <path>     tombstone: the record vanished locally then (the grace starts)
 *     x <path>                      the record was deleted from the replica (forget it)
 *
 * A line is appended only after the PUT succeeded, so after a kill -9 or a
 * network cut the next run resends only what had not been acknowledged.
 * When the file is lost, `fromListing` rebuilds it from one listing of the
 * bucket (content names, and immutable snapshot records; other records are
 * few and simply sent again).
 * Content objects get no tombstones: they are never deleted off-site
 * (replicate.ts says why).
 */
import { appendFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';

export class SentLog {
  readonly content = new Set<string>();
  readonly records = new Map<string, string>();
  /** path → when it was first seen gone locally (ms since epoch). */
  readonly gone = new Map<string, number>();
  readonly file: string;
  private pending: string[] = [];

  constructor(root: string, tag: string) {
    const dir = join(root, 'replica');
    mkdirSync(dir, { recursive: true });
    this.file = join(dir, `sent-${tag}.log`);
  }

  exists(): boolean {
    return existsSync(this.file);
  }

  load(): void {
    for (const line of readFileSync(this.file, 'utf8').split('\n')) {
      if (line.startsWith('c ')) this.content.add(line.slice(2));
      else if (line.startsWith('r ')) {
        this.records.set(line.slice(67), line.slice(2, 66));
        this.gone.delete(line.slice(67));
      } else if (line.startsWith('g ')) {
        const sp = line.indexOf(' ', 2);
        const path = line.slice(sp + 1);
        if (!this.gone.has(path)) this.gone.set(path, Number(line.slice(2, sp)));
      } else if (line.startsWith('x ')) {
        this.records.delete(line.slice(2));
        this.gone.delete(line.slice(2));
      }
    }
  }

  addContent(kind: string, id: string): void {
    this.content.add(`${kind} ${id}`);
    this.pending.push(`c ${kind} ${id}\n`);
    if (this.pending.length >= 64) this.flush();
  }

  addRecord(path: string, digest: string): void {
    this.records.set(path, digest);
    this.gone.delete(path);
    this.pending.push(`r ${digest} ${path}\n`);
    this.flush();
  }

  /** A record the replica holds vanished locally at `at`: its grace starts. */
  addGone(path: string, at: number): void {
    this.gone.set(path, at);
    this.pending.push(`g ${Math.round(at)} ${path}\n`);
  }

  /** A record was deleted from the replica. */
  addDeleted(path: string): void {
    this.records.delete(path);
    this.gone.delete(path);
    this.pending.push(`x ${path}\n`);
  }

  /** Appends acknowledged lines (the page cache survives a killed process). */
  flush(): void {
    if (this.pending.length) appendFileSync(this.file, this.pending.join(''));
    this.pending = [];
  }
}

export const digestOf = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** Keys a stable tag for a replica URL and key (never the key itself). */
export const replicaTag = (url: string, keyTag: string): string =>
  createHash('sha256').update(`${url}\n${keyTag}`).digest('hex').slice(0, 16);
