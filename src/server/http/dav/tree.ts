/**
 * dav/tree — the read-only folder tree /dav/ shows, built from the catalog
 * on demand (nothing is stored for it):
 *
 *   /dav/                         the admin: every laptop; a student: their own
 *   /dav/<serial or "me">/        one laptop ("me" = the signed-in student's)
 *       latest/                   the newest Journal backup (same files as its date)
 *       2026-11-28 14.05/         one Journal backup: each entry's data file
 *                                 as <Title>.<ext> (bundle.ts dataFileName),
 *                                 duplicates numbered, names portable
 *       Documents/                the newest backup of the Documents folder
 *
 * Dates and sizes are the documents' own: an entry's timestamp and data
 * size, a Documents file's mtime and size from its tree. A folder's date is
 * its backup's. A student can reach only laptops of their own account; any
 * other name answers "not found", whether it exists or not.
 */
import { createHash } from 'node:crypto';
import { dataFileName } from '../../../journal/bundle.js';
import { entryKind, entryMtime, entryName, entryRef, entrySize, type TreeEntry } from '../../../protocol/tree.js';
import { davDevice, davDevices, davEntriesAt, davSnapshots } from '../../catalog/dav.js';
import type { Catalog, DeviceRow, SnapshotRow } from '../../catalog/catalog.js';
import { refOf } from '../../store/pool.js';
import { uniqueName } from '../web/exports.js';
import type { DavContent } from './content.js';
import { dateFolder, portableName } from './names.js';

export type Viewer = { kind: 'admin' } | { kind: 'student'; serial: string; accountId: number };

export interface DavFile {
  kind: 'file';
  name: string;
  size: number;
  mtime: number;
  mime: string;
  ref: string;
  etag: string;
}

export interface DavDir {
  kind: 'dir';
  name: string;
  mtime: number;
  children: () => Promise<DavNode[]>;
}

export type DavNode = DavFile | DavDir;

const SAFE_MIME = /^[a-z0-9][a-z0-9.+-]*\/[a-z0-9][a-z0-9.+-]*$/i;
const LISTING_TTL_MS = 30_000;

function mimeOf(t: string): string {
  const base = t.split(';')[0].trim();
  return SAFE_MIME.test(base) ? base : 'application/octet-stream';
}

/** A strong validator: the content hash (pool id), or a hash of the inline bytes. */
function etagOf(ref: string): string {
  const id = /^[0-9a-f]{64}$/.test(ref) ? ref : createHash('sha256').update(ref).digest('hex');
  return `"${id}"`;
}

export class DavTree {
  /** Listings of Journal backups (a snapshot's entries never change), briefly kept. */
  private listings = new Map<number, { at: number; files: DavFile[] }>();

  constructor(
    private readonly db: Catalog,
    private readonly content: DavContent,
    private readonly now: () => number = Date.now,
  ) {}

  root(viewer: Viewer): DavDir {
    return {
      kind: 'dir',
      name: '',
      mtime: this.now(),
      children: async () =>
        (viewer.kind === 'admin' ? davDevices(this.db) : [davDevice(this.db, viewer.serial)])
          .filter((d): d is DeviceRow => Boolean(d))
          .map((d) => this.laptop(d)),
    };
  }

  /** The node at `segments` (decoded path components below /dav/), or null. */
  async resolve(viewer: Viewer, segments: string[]): Promise<DavNode | null> {
    if (segments.length === 0) return this.root(viewer);
    const [first, ...rest] = segments;
    const serial = first === 'me' && viewer.kind === 'student' ? viewer.serial : first;
    const dev = davDevice(this.db, serial);
    if (!dev || (viewer.kind === 'student' && dev.account_id !== viewer.accountId)) return null;
    let node: DavNode = { ...this.laptop(dev), name: first };
    for (const seg of rest) {
      if (node.kind !== 'dir') return null;
      const next: DavNode | undefined = (await node.children()).find((c) => c.name === seg);
      if (!next) return null;
      node = next;
    }
    return node;
  }

  private laptop(dev: DeviceRow): DavDir {
    return {
      kind: 'dir',
      name: dev.serial,
      mtime: dev.last_backup_at ?? dev.created_at,
      children: async () => {
        const journal = davSnapshots(this.db, dev.account_id, 'datastore');
        const docs = davSnapshots(this.db, dev.account_id, 'documents')[0];
        const used = new Set<string>(['latest', 'documents']);
        const out: DavNode[] = [];
        if (journal[0]) out.push(this.backup(journal[0], 'latest'));
        for (const s of journal) out.push(this.backup(s, uniqueName(dateFolder(s.name, s.created_at), used)));
        if (docs)
          out.push(this.folder('Documents', docs.created_at, async () => (await this.content.tree(docs.root)).e));
        return out;
      },
    };
  }

  private backup(snap: SnapshotRow, name: string): DavDir {
    return { kind: 'dir', name, mtime: snap.created_at, children: async () => this.entryFiles(snap) };
  }

  private entryFiles(snap: SnapshotRow): DavFile[] {
    const t = this.now();
    const hit = this.listings.get(snap.id);
    if (hit && t - hit.at < LISTING_TTL_MS) return hit.files;
    const used = new Set<string>();
    const files = davEntriesAt(this.db, snap).map((e): DavFile => ({
      kind: 'file',
      name: uniqueName(portableName(dataFileName(e.title, e.mime_type, e.uid)), used),
      size: e.data_size,
      mtime: e.timestamp !== null ? e.timestamp * 1000 : snap.created_at,
      mime: mimeOf(e.mime_type),
      ref: e.data_blob!,
      etag: etagOf(e.data_blob!),
    }));
    if (this.listings.size > 64) this.listings.clear();
    this.listings.set(snap.id, { at: t, files });
    return files;
  }

  /** A folder of a Documents backup, from its tree (links are left out). */
  private folder(name: string, mtime: number, entries: () => Promise<TreeEntry[]>): DavDir {
    return {
      kind: 'dir',
      name,
      mtime,
      children: async () => {
        const used = new Set<string>();
        const out: DavNode[] = [];
        for (const e of await entries()) {
          const [raw, kind, mt, size, ref] = [entryName(e), entryKind(e), entryMtime(e), entrySize(e), entryRef(e)];
          if (kind === 'l') continue;
          const n = uniqueName(portableName(raw), used);
          if (kind === 'd') out.push(this.folder(n, mt, async () => (await this.content.tree(ref)).e));
          else
            out.push({
              kind: 'file',
              name: n,
              size,
              mtime: mt,
              mime: 'application/octet-stream',
              ref: refOf(e),
              etag: etagOf(refOf(e)),
            });
        }
        return out;
      },
    };
  }
}
