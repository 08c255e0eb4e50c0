/**
 * cache — the scan's per-folder memory between runs, kept on disk and read
 * and written one folder at a time (the agent's memory does not grow with
 * the Journal: issue #13).
 *
 * Per folder: its tree id, tree text (the canonical text, protocol/tree.ts)
 * and the inodes of its entries (0 for folders and links), as the last scan
 * saw them, and the tree id last committed to the server for that folder.
 * A file whose size, mtime and inode match its entry is not read again; a
 * folder whose entries all match keeps its id and text.
 *
 * The file is in the scan's own order, post-order (a folder's subfolders in
 * name order, each with everything under it, then the folder; the source
 * root last), so the scan reads the old file front to back as it walks
 * (CacheReader.take: a merge-join, no index) and writes the new one the same
 * way (CacheWriter). A run that changes nothing writes nothing. Format:
 *
 *   dsb-cache<TAB>4<TAB><server URL as JSON>
 *   <folder path as JSON><TAB><tree id><TAB><committed><TAB><inodes, comma-separated><TAB><tree text>
 *   …
 *   end<TAB><folders><TAB><root id><TAB>rec|all
 *
 * committed: `=` (the folder's tree id itself), empty (nothing), or the
 * committed id. A trailer `all` — appended after a successful commit — says
 * every folder's id is committed. Tree texts are JSON.stringify output (no
 * tab, no newline); folder paths are JSON strings for the same reason.
 * Written to a temp file and renamed, not flushed: a missing, older or
 * damaged cache only costs a re-hash (ids are checked against their texts).
 */
import { closeSync, openSync, readSync, renameSync, fstatSync, unlinkSync, writeSync, appendFileSync } from 'node:fs';
import { compareNames } from '../protocol/tree.js';

export interface CachedDir {
  rel: string;
  id: string;
  tree: string;
  inodes: number[];
  /** The id last committed for this folder ('' when none). */
  committed: string;
  /** The record's line as read (valid until the reader's next take()). */
  raw: Buffer;
}

const MAGIC = 'dsb-cache\t4\t';
const TRAILER = 'end\t';

/** Order of the scan's walk and of the file: a < b when a comes first (post-order, names compared by compareNames). */
export function postOrderCmp(a: string, b: string): number {
  if (a === b) return 0;
  if (a === '') return 1;
  if (b === '') return -1;
  const x = a.split('/');
  const y = b.split('/');
  for (let i = 0; ; i++) {
    if (i === x.length) return 1; // a is an ancestor of b: after it
    if (i === y.length) return -1;
    if (x[i] !== y[i]) return compareNames(x[i], y[i]);
  }
}

function openOrNull(path: string): number | null {
  try {
    return openSync(path, 'r');
  } catch {
    return null;
  }
}

/** The last trailer of the file (read from its tail), or null when it has none. */
function readTrailer(fd: number): { folders: number; root: string; all: boolean } | null {
  const size = fstatSync(fd).size;
  const n = Math.min(size, 4096);
  const tail = Buffer.allocUnsafe(n);
  readSync(fd, tail, 0, n, size - n);
  const lines = tail.toString('utf8').split('\n');
  for (let i = lines.length - 2; i >= 0; i--) {
    const f = lines[i].split('\t');
    if (f[0] === 'end' && f.length === 4) return { folders: Number(f[1]), root: f[2], all: f[3] === 'all' };
  }
  return null;
}

/**
 * Reads a cache file front to back. `take(rel)` in the scan's order returns
 * each folder's record; records of folders that are gone are skipped.
 * Anything unreadable ends the reading (the rest is simply hashed again).
 */
export class CacheReader {
  private fd: number | null;
  private buf = Buffer.allocUnsafe(64 * 1024);
  private start = 0;
  private end = 0;
  private eof = false;
  private next: CachedDir | null = null;
  private all = false;
  private ownServer = false;
  /** Records passed over (folders no longer there). */
  skipped = 0;
  /** Records returned. */
  taken = 0;
  /** Bytes read from the file so far. */
  bytesRead = 0;
  /** The file's trailer. */
  readonly trailer: { folders: number; root: string; all: boolean } | null = null;

  constructor(path: string, server: string | null) {
    this.fd = openOrNull(path);
    if (this.fd === null) return;
    try {
      this.trailer = readTrailer(this.fd);
      const head = this.line();
      if (!this.trailer || !head || !head.toString('utf8').startsWith(MAGIC)) {
        this.stop();
        return;
      }
      this.all = this.trailer.all;
      this.ownServer = server !== null && JSON.parse(head.toString('utf8', MAGIC.length)) === server;
    } catch {
      this.stop();
    }
  }

  /** The file was written for this server (else no folder counts as committed). */
  get forServer(): boolean {
    return this.ownServer;
  }

  /** The file was written for this server and its every folder is committed (trailer `all`). */
  get allCommitted(): boolean {
    return this.all && this.ownServer;
  }

  /** Reached the trailer: every record was taken or skipped. */
  get exhausted(): boolean {
    return this.fd === null && this.next === null;
  }

  private stop(): undefined {
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
    this.next = null;
    return undefined;
  }

  close(): void {
    this.stop();
  }

  /** The next line (without its newline), or null at the end; valid until the next call. */
  private line(): Buffer | null {
    for (;;) {
      const nl = this.buf.indexOf(10, this.start);
      if (nl >= 0 && nl < this.end) {
        const l = this.buf.subarray(this.start, nl);
        this.start = nl + 1;
        return l;
      }
      if (this.eof || this.fd === null) return null;
      if (this.start > 0) {
        this.buf.copy(this.buf, 0, this.start, this.end);
        this.end -= this.start;
        this.start = 0;
      }
      if (this.end === this.buf.length) {
        const bigger = Buffer.allocUnsafe(this.buf.length * 2); // a folder of many thousand entries
        this.buf.copy(bigger, 0, 0, this.end);
        this.buf = bigger;
      }
      const n = readSync(this.fd, this.buf, this.end, this.buf.length - this.end, null);
      if (n === 0) this.eof = true;
      else this.end += n;
      this.bytesRead += n;
    }
  }

  private parse(l: Buffer): CachedDir {
    const t1 = l.indexOf(9);
    const t2 = l.indexOf(9, t1 + 1);
    const t3 = l.indexOf(9, t2 + 1);
    const t4 = l.indexOf(9, t3 + 1);
    if (t1 < 0 || t2 < 0 || t3 < 0 || t4 < 0) throw new Error('damaged cache record');
    const id = l.toString('latin1', t1 + 1, t2);
    const c = l.toString('latin1', t2 + 1, t3);
    const inos = l.toString('latin1', t3 + 1, t4);
    return {
      rel: JSON.parse(l.toString('utf8', 0, t1)) as string,
      id,
      committed: !this.ownServer ? '' : this.all || c === '=' ? id : c,
      inodes: inos === '' ? [] : inos.split(',').map(Number),
      tree: l.toString('utf8', t4 + 1),
      raw: l,
    };
  }

  /** The next record in file order, or undefined at the end. */
  read(): CachedDir | undefined {
    if (this.next) {
      const r = this.next;
      this.next = null;
      this.taken++;
      return r;
    }
    if (this.fd === null) return undefined;
    const l = this.line();
    if (!l || l.toString('latin1', 0, TRAILER.length) === TRAILER) return this.stop();
    try {
      const r = this.parse(l);
      this.taken++;
      return r;
    } catch {
      return this.stop();
    }
  }

  /** The record of folder `rel`, called in the scan's order; undefined when the file has none. */
  take(rel: string): CachedDir | undefined {
    for (;;) {
      if (!this.next) {
        const r = this.read();
        if (!r) return undefined;
        this.taken--;
        this.next = r;
      }
      const c = postOrderCmp(this.next.rel, rel);
      if (c > 0) return undefined;
      const r = this.next;
      this.next = null;
      if (c === 0) {
        this.taken++;
        return r;
      }
      this.skipped++;
    }
  }
}

/** Every record of a cache file, in order. */
export function* readCache(path: string, server: string | null): Generator<CachedDir> {
  const r = new CacheReader(path, server);
  try {
    for (let d = r.read(); d; d = r.read()) yield d;
  } finally {
    r.close();
  }
}

function recordLine(rel: string, id: string, tree: string, inodes: number[], committed: string): string {
  return `${JSON.stringify(rel)}\t${id}\t${committed === id ? '=' : committed}\t${inodes.join(',')}\t${tree}\n`;
}

const WRITE_BUF = 256 * 1024;

/**
 * Writes the new cache alongside the scan, only once it differs from the old
 * one (`diverge`): the records already matched are then copied over from the
 * old file, and every later one written as the scan finishes its folder.
 */
export class CacheWriter {
  private fd: number | null = null;
  private pending: string[] = [];
  private pendingBytes = 0;
  /** Records so far (the file's order: also each record's index). */
  count = 0;

  constructor(
    readonly path: string,
    private readonly server: string,
    private readonly old: CacheReader,
  ) {}

  get diverged(): boolean {
    return this.fd !== null;
  }

  private out(s: string): void {
    this.pending.push(s);
    this.pendingBytes += s.length;
    if (this.pendingBytes >= WRITE_BUF) this.drain();
  }

  private drain(): void {
    if (!this.pending.length) return;
    writeSync(this.fd!, this.pending.join(''));
    this.pending = [];
    this.pendingBytes = 0;
  }

  /** Starts the new file: header, then the `count` records matched so far, from the old file. */
  diverge(): void {
    if (this.fd !== null) return;
    this.fd = openSync(`${this.path}.tmp`, 'w', 0o600);
    this.out(`${MAGIC}${JSON.stringify(this.server)}\n`);
    let n = 0;
    if (this.count > 0)
      for (const d of readCache(this.path, this.server)) {
        if (n++ === this.count) break;
        this.out(recordLine(d.rel, d.id, d.tree, d.inodes, d.committed));
      }
  }

  /** A folder exactly as the old file has it (`d` from the old reader). */
  same(d: CachedDir): void {
    if (this.fd !== null) this.out(recordLine(d.rel, d.id, d.tree, d.inodes, d.committed));
    this.count++;
  }

  /** A folder that differs from the old file (or is new). */
  put(rel: string, id: string, tree: string, inodes: number[], committed: string): void {
    this.diverge();
    this.out(recordLine(rel, id, tree, inodes, committed));
    this.count++;
  }

  /** Ends the new file (when there is one) and puts it in place. */
  finish(root: string): void {
    if (this.fd === null) return;
    this.out(`${TRAILER}${this.count}\t${root}\trec\n`);
    this.drain();
    closeSync(this.fd);
    this.fd = null;
    renameSync(`${this.path}.tmp`, this.path);
  }

  abort(): void {
    if (this.fd === null) return;
    closeSync(this.fd);
    this.fd = null;
    this.pending = [];
    try {
      unlinkSync(`${this.path}.tmp`);
    } catch {
      /* already gone */
    }
  }
}

/** After a successful commit of `root`: every folder in the file is committed. */
export function markCommitted(path: string, folders: number, root: string): void {
  try {
    appendFileSync(path, `${TRAILER}${folders}\t${root}\tall\n`);
  } catch {
    /* the cache is only an optimisation: the next run offers a little more */
  }
}
