/**
 * entry-restore — one Journal entry out of a snapshot tree.
 *
 * findEntry locates an entry by uid in either layout (6: `<uid[:2]>/<uid>/`,
 * 0: `store/<uid>` + `.metadata` + `preview/<uid>`). writeEntry writes it as
 * a layout-6 entry folder (converting layout 0 the way Sugar 0.84 migrates:
 * each JSON key becomes metadata/<key>, the preview metadata/preview), or as
 * a Journal Entry Bundle (.xoj) that Sugar imports with its metadata.
 */
import { createWriteStream, mkdirSync, writeFileSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { AppError } from '../../platform/errors.js';
import {
  entryKind,
  entryMtime,
  entryName,
  entryRef,
  fileBytes,
  blobsOf,
  isChunkedEntry,
  isFileEntry,
  type Tree,
  type TreeEntry,
} from '../../protocol/tree.js';
import { layout0Props } from '../../journal/metadata.js';
import { xojFileName, xojZip } from '../../journal/bundle.js';
import type { ApiClient } from '../client.js';
import { materialize } from './materialize.js';
import { fetchBlobs } from './remote.js';
import { parseChunkList } from '../../protocol/chunked.js';
import { sha256Hex } from '../../protocol/hash.js';

export type EntryLocation =
  | { layout: 6; uid: string; dir: TreeEntry }
  | { layout: 0; uid: string; data?: TreeEntry; meta: TreeEntry; preview?: TreeEntry };

const child = (t: Tree | undefined, name: string, kind: 'f' | 'd') =>
  t?.e.find((e) => entryName(e) === name && (kind === 'f' ? isFileEntry(e) : entryKind(e) === kind));

export function findEntry(trees: Map<string, Tree>, root: string, uid: string): EntryLocation | null {
  const top = trees.get(root);
  const prefix = child(top, uid.slice(0, 2), 'd');
  const dir = prefix ? child(trees.get(entryRef(prefix)), uid, 'd') : undefined;
  if (dir) return { layout: 6, uid, dir };
  const store = child(top, 'store', 'd');
  const st = store ? trees.get(entryRef(store)) : undefined;
  const meta = child(st, `${uid}.metadata`, 'f');
  if (!meta) return null;
  const previews = child(st, 'preview', 'd');
  return {
    layout: 0,
    uid,
    meta,
    data: child(st, uid, 'f'),
    preview: previews ? child(trees.get(entryRef(previews)), uid, 'f') : undefined,
  };
}

async function blobs(client: ApiClient, ids: string[]): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  if (ids.length) await fetchBlobs(client, [...new Set(ids)], (id, data) => out.set(id, data));
  return out;
}

/** The bytes of file entries (inline ones decoded, the rest fetched in one request). */
async function contents(client: ApiClient, files: TreeEntry[]): Promise<Buffer[]> {
  const got = await blobs(
    client,
    files.flatMap((e) => blobsOf(e).map(([id]) => id)),
  );
  return files.map((e) => {
    const bytes = fileBytes(e, (id) => got.get(id)!);
    if (isChunkedEntry(e) && sha256Hex(bytes) !== parseChunkList(entryRef(e)).whole)
      throw new AppError('hash_mismatch', `the chunks of ${entryName(e)} do not make the file that was backed up`);
    return bytes;
  });
}

/** Metadata props and the data entry of an entry, in either layout. */
async function readEntry(
  client: ApiClient,
  trees: Map<string, Tree>,
  loc: EntryLocation,
): Promise<{ props: Record<string, Buffer>; data?: TreeEntry }> {
  if (loc.layout === 0) {
    const [meta, preview] = await contents(client, [loc.meta, ...(loc.preview ? [loc.preview] : [])]);
    const props: Record<string, Buffer> = {};
    for (const [k, v] of Object.entries(layout0Props(meta).props)) props[k] = Buffer.from(v);
    if (preview) props.preview = preview;
    return { props, data: loc.data };
  }
  const entry = trees.get(entryRef(loc.dir))!;
  const metaDir = child(entry, 'metadata', 'd');
  const files = metaDir
    ? trees.get(entryRef(metaDir))!.e.filter((e) => isFileEntry(e) && !entryName(e).startsWith('.'))
    : [];
  const got = await contents(client, files);
  const props: Record<string, Buffer> = {};
  files.forEach((e, i) => (props[entryName(e)] = got[i]));
  return { props, data: child(entry, 'data', 'f') };
}

function writeLayout0AsEntry(
  dest: string,
  uid: string,
  props: Record<string, Buffer>,
  data: Buffer | null,
  mtime: number,
): void {
  mkdirSync(join(dest, 'metadata'), { recursive: true });
  if (!props.uid) props.uid = Buffer.from(uid);
  for (const [k, v] of Object.entries(props))
    if (!k.includes('/') && !k.startsWith('.')) writeFileSync(join(dest, 'metadata', k), v);
  if (data) {
    writeFileSync(join(dest, 'data'), data);
    utimesSync(join(dest, 'data'), mtime / 1000, mtime / 1000);
  }
}

export async function writeEntry(
  client: ApiClient,
  trees: Map<string, Tree>,
  loc: EntryLocation,
  opts: { datastore: string; xojDir: string; xoj: boolean; force: boolean },
): Promise<{ path: string; title: string }> {
  const { props, data } = await readEntry(client, trees, loc);
  const title = props.title?.toString('utf8') ?? '';
  if (opts.xoj) {
    if (!data)
      throw new AppError(
        'bad_request',
        `entry ${loc.uid} has no data file, so it cannot be a Journal Entry Bundle; restore it without --xoj`,
      );
    const [bytes] = await contents(client, [data]);
    mkdirSync(opts.xojDir, { recursive: true });
    const path = join(opts.xojDir, xojFileName(title, loc.uid));
    const zip = xojZip({ uid: loc.uid, metadata: props, data: bytes });
    await pipeline(zip.outputStream, createWriteStream(path));
    return { path, title };
  }
  const dest = join(opts.datastore, loc.uid.slice(0, 2), loc.uid);
  if (loc.layout === 6) {
    await materialize(client, trees, entryRef(loc.dir), dest, { overwriteNewer: opts.force, rootEntry: loc.dir });
  } else {
    const bytes = data ? (await contents(client, [data]))[0] : null;
    writeLayout0AsEntry(dest, loc.uid, props, bytes, data ? entryMtime(data) : Date.now());
  }
  return { path: dest, title };
}
