/**
 * exports — "everything from this date" as one download, streamed.
 *
 *  - snapshotZip: the data file of every Journal entry in the backup, named
 *    title + extension (dataFileName, made unique with " (2)"…), mtimes from
 *    the entries' timestamps. yazl opens each pool file only when its turn
 *    comes, so the archive is never held in memory.
 *  - snapshotXob: Sugar's whole-Journal backup (.xob, JOURNAL-FORMAT.md): a
 *    tar.gz of the datastore's top-level folders, member names being the
 *    absolute path on an XO without the leading slash
 *    (home/olpc/.sugar/default/datastore/…). Walks the snapshot tree and
 *    streams each blob from the pool through gzip.
 */
import { pipeline, Readable } from 'node:stream';
import { createGzip } from 'node:zlib';
import yazl from 'yazl';
import { isDirEntry, readTrustedTree, type Tree } from '../../../protocol/tree.js';
import { parseChunkList } from '../../../protocol/chunked.js';
import { dataFileName } from '../../../journal/bundle.js';
import type { EntryRow, SnapshotRow } from '../../catalog/catalog.js';
import type { Pool } from '../../store/pool.js';
import { TAR_END, tarHeader, tarPadding } from './tar.js';

export const XOB_MIME = 'application/vnd.olpc-journal-backup';
export const XOB_PREFIX = 'home/olpc/.sugar/default/datastore';
const PACKED =
  /^(image\/(png|jpeg|gif)|audio\/|video\/|application\/(pdf|zip|epub\+zip|ogg|vnd\.olpc-sugar|vnd\.oasis\.opendocument\.))/;

export function uniqueName(name: string, used: Set<string>): string {
  let out = name;
  for (let n = 2; used.has(out.toLowerCase()); n++) {
    const dot = name.lastIndexOf('.');
    out = dot > 0 ? `${name.slice(0, dot)} (${n})${name.slice(dot)}` : `${name} (${n})`;
  }
  used.add(out.toLowerCase());
  return out;
}

export async function snapshotZip(pool: Pool, rows: EntryRow[]): Promise<yazl.ZipFile> {
  const zip = new yazl.ZipFile();
  const used = new Set<string>();
  const withData = rows.filter((e) => e.data_blob);
  const sizes = await Promise.all(withData.map((e) => pool.sourceSize(pool.refSource(e.data_blob!))));
  for (const [i, e] of withData.entries()) {
    if (!e.data_blob) continue;
    const name = uniqueName(dataFileName(e.title, e.mime_type, e.uid), used);
    const mtime = new Date((e.timestamp ?? 0) * 1000);
    const source = pool.refSource(e.data_blob);
    const options = { mtime, compress: !PACKED.test(e.mime_type) };
    if (Buffer.isBuffer(source)) zip.addBuffer(source, name, options);
    else
      // Opened when yazl reaches it (one blob open at a time); mode as a pool file's (0444).
      zip.addReadStreamLazy(name, { ...options, mode: 0o100444, size: sizes[i] }, (cb) => {
        // yazl listens for no error on the streams it is given: a failing one (a damaged object) cuts the zip.
        const bytes = pool.sourceStream(source);
        bytes.on('error', (err: Error) => (zip.outputStream as Readable).destroy(err));
        cb(null, bytes);
      });
  }
  zip.end();
  zip.on('error', (err: Error) => (zip.outputStream as Readable).destroy(err));
  return zip;
}

/** The tar members of a tree, folders depth first (an explicit stack: a tree's depth is the client's choice). */
async function* walk(pool: Pool, tree: Tree, path: string): AsyncGenerator<Buffer> {
  const stack = [{ entries: tree.e, i: 0, path }];
  while (stack.length) {
    const top = stack[stack.length - 1];
    if (top.i >= top.entries.length) {
      stack.pop();
      continue;
    }
    const [name, kind, mode, mtime, size, ref] = top.entries[top.i++];
    const p = `${top.path}/${name}`;
    if (kind === 'd') {
      yield tarHeader({ path: p, type: 'dir', mode, mtimeMs: mtime, size: 0 });
      stack.push({ entries: readTrustedTree(await pool.readTree(ref)).e, i: 0, path: p });
    } else if (kind === 'l') {
      yield tarHeader({ path: p, type: 'symlink', mode, mtimeMs: mtime, size: 0, linkTarget: ref });
    } else {
      yield tarHeader({ path: p, type: 'file', mode, mtimeMs: mtime, size });
      if (kind === 'i') {
        yield Buffer.from(ref, 'base64');
        yield tarPadding(size);
        continue;
      }
      let sent = 0;
      const bytes = kind === 'c' ? pool.chunksStream(parseChunkList(ref).chunks) : pool.blobStream(ref);
      for await (const chunk of bytes) {
        sent += (chunk as Buffer).length;
        yield chunk as Buffer;
      }
      if (sent !== size) throw new Error(`blob ${ref} has ${sent} bytes, the tree says ${size}`);
      yield tarPadding(size);
    }
  }
}

async function* xobMembers(pool: Pool, snap: SnapshotRow): AsyncGenerator<Buffer> {
  const root = readTrustedTree(await pool.readTree(snap.root));
  const top: Tree = { v: 1, e: root.e.filter((e) => isDirEntry(e)) };
  yield* walk(pool, top, XOB_PREFIX);
  yield TAR_END;
}

/** The .xob stream (gzip) of a datastore snapshot. */
export function snapshotXob(pool: Pool, snap: SnapshotRow): NodeJS.ReadableStream {
  const gz = createGzip();
  pipeline(Readable.from(xobMembers(pool, snap)), gz, (err) => {
    if (err) gz.destroy(err);
  });
  return gz;
}

export function xobFileName(serial: string, createdAt: number): string {
  return `${serial}_${new Date(createdAt).toISOString().slice(0, 10).replace(/-/g, '')}.xob`;
}
