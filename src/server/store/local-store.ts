/**
 * local-store — the object store on the local filesystem (the embedded
 * default; object-store.ts has the contract). A key is a path under the root:
 *
 *   <root>/pool/ab/<sha256>   <root>/trees/ab/<sha256>   mode 0444, one level
 *                             of 256 folders made up front (POOL_DEPTH)
 *   <root>/users/…            snapshot records (and other account files)
 *   <root>/incoming/          temp files and resumable partial uploads
 *   <root>/gc-trash/          objects a guarded sweep hid (put back at start)
 *
 * Writes go to a temp file in incoming/, are flushed, then appear by rename
 * (batches: one syncfs for all, then renames) or, for put-if-absent, by a hard
 * link that fails when the name is taken. An object whose folder does not
 * exist yet (a new snapshot record) appears with its folder: both are
 * written as a hidden `.tmp-` folder and renamed into place. Reads, stats and
 * touches of the hot paths are synchronous here (`sync`).
 */
import {
  closeSync,
  createReadStream,
  existsSync,
  fsyncSync,
  linkSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  renameSync,
  rmdirSync,
  rmSync,
  statSync,
  unlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import { fsyncDir, replaceSymlink, syncFilesystem } from '../../platform/durable.js';
import {
  idOfKey,
  type ByteRange,
  type ObjectInfo,
  type ObjectReader,
  type ObjectStat,
  type ObjectStore,
  type StagedObject,
  type SyncObjectAccess,
} from './object-store.js';

/**
 * Folder levels under pool/ (and trees/): one, like git's loose objects.
 * DESIGN.md had two (pool/ab/cd/); measured here, creating the ~24,000 leaf
 * folders a fresh pool needs cost 1.2–2 s of a first backup (and 65,536
 * folders of 4 KiB each on a full server), while ext4's hashed directories
 * keep lookups fast with tens of thousands of names per folder.
 */
export const POOL_DEPTH = 1;

const BAD_SEGMENT = /^(|\.|\.\.)$/;
/** Name prefix of a folder deleteFolder() has hidden and is removing. */
const DELETING = '.tmp-del-';

/** The slices left after the first n bytes. */
function skipBytes(parts: readonly Buffer[], n: number): readonly Buffer[] {
  let i = 0;
  while (i < parts.length && n >= parts[i].length) n -= parts[i++].length;
  if (i === parts.length) return [];
  return n ? [parts[i].subarray(n), ...parts.slice(i + 1)] : parts.slice(i);
}

const isObjectKey = (key: string) => key.startsWith('pool/') || key.startsWith('trees/');
const modeOf = (key: string) => (isObjectKey(key) ? 0o444 : 0o644);
const isMissing = (e: unknown) => (e as NodeJS.ErrnoException).code === 'ENOENT';

export class LocalObjectStore implements ObjectStore {
  readonly location: string;
  readonly incomingDir: string;
  private readonly trashDir: string;
  /** Temp names: a per-process random prefix and a counter (no random bytes per file). */
  private readonly tmpPrefix = randomBytes(6).toString('hex');
  private tmpCount = 0;
  readonly sync: SyncObjectAccess;

  constructor(readonly root: string) {
    this.location = root;
    this.incomingDir = join(root, 'incoming');
    this.trashDir = join(root, 'gc-trash');
    const pool = join(root, 'pool');
    const trees = join(root, 'trees');
    for (const d of [pool, trees, this.incomingDir]) mkdirSync(d, { recursive: true });
    if (!existsSync(join(trees, 'ff'))) {
      for (let i = 0; i < 256; i++) {
        const ab = i.toString(16).padStart(2, '0');
        mkdirSync(join(pool, ab), { recursive: true });
        mkdirSync(join(trees, ab), { recursive: true });
      }
    }
    this.sync = {
      stat: (key) => {
        const st = statSync(this.path(key), { throwIfNoEntry: false });
        return st ? { size: st.size, mtimeMs: st.mtimeMs } : null;
      },
      touch: (key) => this.touchSync(key),
      read: (key) => readFileSync(this.path(key)),
      open: (key) => this.openReader(key),
      list: (prefix, pick) => this.listSync(prefix, pick),
      setAlias: (folderKey, alias, target) => replaceSymlink(target, join(this.path(folderKey), alias)),
    };
  }

  /** The file of a key (keys are checked: no empty, `.` or `..` part). */
  private path(key: string): string {
    const parts = key.split('/');
    if (parts.some((p) => BAD_SEGMENT.test(p)) || key.includes('\0')) throw new Error(`bad object key ${key}`);
    return join(this.root, ...parts);
  }

  private nextTemp(): string {
    return join(this.incomingDir, `${this.tmpPrefix}-${++this.tmpCount}.tmp`);
  }

  /** (A stat that says "absent" without throwing: a first backup asks this of thousands of new blobs.) */
  private touchSync(key: string): number {
    const path = this.path(key);
    const st = statSync(path, { throwIfNoEntry: false });
    if (!st) return -1;
    try {
      const now = new Date();
      utimesSync(path, now, now);
      return st.size;
    } catch {
      // Removed between the stat and the touch, or not ours to touch: "absent", as
      // before — the client sends it again and publishing replaces the file.
      return -1;
    }
  }

  private openReader(key: string): ObjectReader {
    const fd = openSync(this.path(key), 'r');
    return {
      read: (buf, offset, length, position) => readSync(fd, buf, offset, length, position),
      close: () => closeSync(fd),
    };
  }

  /** Keys under a prefix; `pick(folderKey)` may skip whole folders (a sample). Dot-names and links are skipped. */
  private *listSync(prefix: string, pick?: (folder: string) => boolean): Generator<ObjectInfo> {
    const cut = prefix.lastIndexOf('/');
    const start = prefix.slice(cut + 1);
    const stack: Array<{ dir: string; key: string; filter: string }> = [
      { dir: cut < 0 ? this.root : this.path(prefix.slice(0, cut)), key: prefix.slice(0, cut + 1), filter: start },
    ];
    while (stack.length) {
      const { dir, key, filter } = stack.pop()!;
      let ents;
      try {
        ents = readdirSync(dir, { withFileTypes: true });
      } catch (e) {
        if (isMissing(e)) continue;
        throw e;
      }
      for (const d of ents) {
        if (d.name.startsWith('.') || !d.name.startsWith(filter)) continue;
        const k = key + d.name;
        if (d.isDirectory()) {
          if (!pick || pick(k)) stack.push({ dir: join(dir, d.name), key: k + '/', filter: '' });
        } else if (d.isFile()) yield { key: k };
      }
    }
  }

  async putIfAbsent(key: string, data: Buffer | string | readonly Buffer[]): Promise<boolean> {
    const path = this.path(key);
    if (existsSync(path)) return false;
    const parts = typeof data === 'string' ? [Buffer.from(data)] : Buffer.isBuffer(data) ? [data] : data;
    const folder = dirname(path);
    if (!existsSync(folder)) return this.putWithFolder(path, parts);
    const tmp = (await this.stage(key, parts)).tmp;
    try {
      const fd = openSync(tmp, 'r');
      fsyncSync(fd);
      closeSync(fd);
      linkSync(tmp, path);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw e;
    } finally {
      unlinkSync(tmp);
    }
    fsyncDir(folder);
    return true;
  }

  /** A new folder holding one object, appearing whole: `.tmp-` folder, flushed, renamed into place. */
  private putWithFolder(path: string, parts: readonly Buffer[]): boolean {
    const folder = dirname(path);
    const parent = dirname(folder);
    mkdirSync(parent, { recursive: true });
    const tmp = join(parent, `.tmp-${basename(folder)}-${randomBytes(4).toString('hex')}`);
    mkdirSync(tmp);
    const file = join(tmp, basename(path));
    writeFileSync(file, Buffer.concat(parts as Buffer[]), { mode: 0o644 });
    const fd = openSync(file, 'r');
    fsyncSync(fd);
    closeSync(fd);
    fsyncDir(tmp);
    try {
      renameSync(tmp, folder);
    } catch (e) {
      rmdirTree(tmp);
      if ((e as NodeJS.ErrnoException).code === 'ENOTEMPTY' || (e as NodeJS.ErrnoException).code === 'EEXIST')
        return false;
      throw e;
    }
    fsyncDir(parent);
    return true;
  }

  async putFile(key: string, tempPath: string): Promise<void> {
    this.renameIn(tempPath, this.path(key));
  }

  private renameIn(tmp: string, final: string): void {
    try {
      renameSync(tmp, final);
    } catch (e) {
      if (!isMissing(e) || !existsSync(tmp)) throw e;
      mkdirSync(dirname(final), { recursive: true }); // its folder went missing
      renameSync(tmp, final);
    }
  }

  get(key: string, range?: ByteRange): Readable {
    const end = range?.end === undefined ? undefined : range.end - 1;
    return createReadStream(this.path(key), range ? { start: range.start, end } : undefined);
  }

  async stat(key: string): Promise<ObjectStat | null> {
    try {
      const st = await stat(this.path(key));
      return { size: st.size, mtimeMs: st.mtimeMs };
    } catch (e) {
      if (isMissing(e)) return null;
      throw e;
    }
  }

  async touch(key: string): Promise<number> {
    return this.touchSync(key);
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    yield* this.listSync(prefix);
  }

  async delete(key: string): Promise<boolean> {
    const path = this.path(key);
    try {
      unlinkSync(path);
    } catch (e) {
      if (isMissing(e)) return false;
      throw e;
    }
    if (!isObjectKey(key)) removeIfEmpty(dirname(path));
    return true;
  }

  /**
   * The folder is renamed to a hidden `.tmp-del-` sibling (listSync and
   * store.serials() skip dot-names) and the parent flushed: from then on it
   * is gone for every reader. Then the hidden folder is removed.
   */
  async deleteFolder(folderKey: string): Promise<boolean> {
    const path = this.path(folderKey);
    const parent = dirname(path);
    const gone = join(parent, `${DELETING}${basename(path)}-${randomBytes(4).toString('hex')}`);
    try {
      renameSync(path, gone);
    } catch (e) {
      if (isMissing(e)) return false;
      throw e;
    }
    fsyncDir(parent);
    rmSync(gone, { recursive: true, force: true });
    return true;
  }

  removeLeftovers(folderKey: string): number {
    const dir = folderKey ? this.path(folderKey) : this.root;
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch (e) {
      if (isMissing(e)) return 0;
      throw e;
    }
    const left = names.filter((n) => n.startsWith(DELETING));
    for (const n of left) rmSync(join(dir, n), { recursive: true, force: true });
    return left.length;
  }

  /**
   * Writes slices to a temp file off the event loop (libuv's thread pool
   * writes while the caller reads and hashes the next blob).
   */
  async stage(key: string, parts: readonly Buffer[]): Promise<StagedObject> {
    const tmp = this.nextTemp();
    const fh = await open(tmp, 'w', modeOf(key));
    try {
      let left = parts;
      while (left.length) {
        const { bytesWritten } = await fh.writev(left as Buffer[]);
        left = skipBytes(left, bytesWritten);
      }
    } catch (e) {
      await fh.close().catch(() => {}); // the write's error is the one to report
      await unlinkQuiet(tmp);
      throw e;
    }
    await fh.close();
    return { key, tmp };
  }

  /** One syncfs for everything written so far. */
  flush(): Promise<void> {
    return syncFilesystem(this.root);
  }

  /**
   * One rename per object, in order. A key already present holds the same
   * bytes (content addressed), so replacing it is harmless, and the new file's
   * recent mtime marks it in use as touch() would.
   */
  async publish(staged: readonly StagedObject[]): Promise<void> {
    for (const s of staged) this.renameIn(s.tmp, this.path(s.key));
  }

  discard(staged: ReadonlyArray<{ tmp: string }>): void {
    for (const s of staged) {
      try {
        unlinkSync(s.tmp);
      } catch (e) {
        if (!isMissing(e)) throw e; // already gone is fine
      }
    }
  }

  async sweep(key: string, horizonMs: number, opts: { dryRun: boolean; guarded: boolean }): Promise<number> {
    const path = this.path(key);
    const st = lstatSync(path, { throwIfNoEntry: false });
    if (!st || st.mtimeMs >= horizonMs) return -1;
    if (opts.dryRun) return st.size;
    if (!opts.guarded) {
      // Same process as every toucher (or none runs): lstat and unlink happen with no request in between.
      unlinkSync(path);
      return st.size;
    }
    mkdirSync(this.trashDir, { recursive: true });
    const t = join(this.trashDir, trashName(key));
    try {
      renameSync(path, t);
    } catch (e) {
      if (isMissing(e)) return -1;
      throw e;
    }
    if (lstatSync(t).mtimeMs >= horizonMs) {
      renameSync(t, path);
      return -1;
    }
    unlinkSync(t);
    return st.size;
  }

  recoverSweeps(): number {
    let names: string[];
    try {
      names = readdirSync(this.trashDir);
    } catch (e) {
      if (isMissing(e)) return 0;
      throw e;
    }
    let n = 0;
    for (const name of names) {
      const m = /^([tb])-([0-9a-f]{64})$/.exec(name);
      if (!m) continue;
      const dest = this.path(`${m[1] === 't' ? 'trees' : 'pool'}/${m[2].slice(0, 2)}/${m[2]}`);
      mkdirSync(dirname(dest), { recursive: true });
      renameSync(join(this.trashDir, name), dest);
      n++;
    }
    return n;
  }

  get scratchDir(): string {
    return this.incomingDir;
  }

  scratchPath(name: string): string {
    if (name.includes('/') || BAD_SEGMENT.test(name)) throw new Error(`bad scratch name ${name}`);
    return join(this.incomingDir, name);
  }

  cleanScratch(): void {
    for (const name of readdirSync(this.incomingDir)) {
      if (name.endsWith('.tmp')) unlinkSync(join(this.incomingDir, name));
    }
  }
}

/** gc-trash/ names, as earlier versions wrote them (t-<id>, b-<id>). */
function trashName(key: string): string {
  const id = idOfKey(key);
  if (!id || !isObjectKey(key)) throw new Error(`only pool and trees objects are swept, not ${key}`);
  return `${key.startsWith('trees/') ? 't' : 'b'}-${id}`;
}

async function unlinkQuiet(path: string): Promise<void> {
  try {
    unlinkSync(path);
  } catch (e) {
    if (!isMissing(e)) throw e;
  }
}

function removeIfEmpty(dir: string): void {
  try {
    rmdirSync(dir);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'ENOTEMPTY' && code !== 'EEXIST' && code !== 'ENOENT') throw e;
  }
}

function rmdirTree(dir: string): void {
  for (const n of readdirSync(dir)) unlinkSync(join(dir, n));
  rmdirSync(dir);
}
