/**
 * indexer — reads Journal entries out of snapshot trees for the catalog.
 *
 * diffEntries(old, new) walks only the subtrees whose ids differ, so the work
 * of indexing a snapshot grows with what changed. Entries are found by shape:
 *  - layout 6: `<2 chars>/<36-char uid>/` folders; an entry version is the
 *    id of its folder's tree;
 *  - layout 0: `store/<uid>`, `store/<uid>.metadata`, `store/preview/<uid>`;
 *    a version is the hash of those three blob ids.
 * describeEntry() reads the few metadata blobs the catalog shows.
 */
import { sha256Hex } from '../../protocol/hash.js';
import {
  entryName,
  entryRef,
  entrySize,
  fileBytes,
  isDirEntry,
  isFileEntry,
  type Tree,
  type TreeEntry,
} from '../../protocol/tree.js';
import { refOf } from '../store/pool.js';
import {
  entryInfo,
  INDEXED_KEYS,
  isEntryFolder,
  layout0Props,
  UID_RE,
  type EntryInfo,
} from '../../journal/metadata.js';

export interface TreeSource {
  tree(id: string): Tree;
  blob(id: string): Buffer;
}

export type EntryRef =
  | { layout: 6; uid: string; version: string }
  | { layout: 0; uid: string; version: string; data?: TreeEntry; meta?: TreeEntry; preview?: TreeEntry };

export interface EntryDetails {
  ref: EntryRef;
  info: EntryInfo;
  data: { id: string; size: number } | null;
  preview: { id: string; size: number } | null;
  metaRef: string | null;
}

const MAX_INDEXED_VALUE = 64 * 1024;
const MAX_LAYOUT0_META = 4 * 1024 * 1024;

function dirs(t: Tree | null): Map<string, TreeEntry> {
  const m = new Map<string, TreeEntry>();
  if (t) for (const e of t.e) if (isDirEntry(e)) m.set(entryName(e), e);
  return m;
}

function layout6Entries(src: TreeSource, prefixTree: string, prefix: string, out: Map<string, EntryRef>): void {
  for (const e of src.tree(prefixTree).e) {
    if (isDirEntry(e) && isEntryFolder(prefix, entryName(e)))
      out.set(entryName(e), { layout: 6, uid: entryName(e), version: entryRef(e) });
  }
}

function layout0Entries(src: TreeSource, storeTree: string, out: Map<string, EntryRef>): void {
  const t = src.tree(storeTree);
  const files = new Map<string, TreeEntry>();
  let previews = new Map<string, TreeEntry>();
  for (const e of t.e) {
    if (isFileEntry(e)) files.set(entryName(e), e);
    else if (isDirEntry(e) && entryName(e) === 'preview')
      previews = new Map(
        src
          .tree(entryRef(e))
          .e.filter(isFileEntry)
          .map((p) => [entryName(p), p]),
      );
  }
  for (const [name, meta] of files) {
    if (!name.endsWith('.metadata')) continue;
    const uid = name.slice(0, -'.metadata'.length);
    if (!UID_RE.test(uid)) continue;
    const data = files.get(uid);
    const preview = previews.get(uid);
    const version = sha256Hex(`0:${data ? entryRef(data) : ''}:${entryRef(meta)}:${preview ? entryRef(preview) : ''}`);
    out.set(uid, { layout: 0, uid, version, data, meta, preview });
  }
}

/** Every entry of a snapshot root (used when there is nothing to diff against). */
function entriesUnder(src: TreeSource, root: Tree, only: Set<string> | null, out: Map<string, EntryRef>): void {
  for (const [name, e] of dirs(root)) {
    if (only && !only.has(name)) continue;
    if (name === 'store') layout0Entries(src, entryRef(e), out);
    else if (name.length === 2) layout6Entries(src, entryRef(e), name, out);
  }
}

/** Entries added or changed (new versions) and uids removed between two roots. */
export function diffEntries(
  src: TreeSource,
  oldRoot: string | null,
  newRoot: string,
): { changed: EntryRef[]; removed: string[] } {
  if (oldRoot === newRoot) return { changed: [], removed: [] };
  const oldTree = oldRoot ? src.tree(oldRoot) : null;
  const newTree = src.tree(newRoot);
  const oldDirs = dirs(oldTree);
  const newDirs = dirs(newTree);
  const differing = new Set<string>();
  for (const [name, e] of newDirs) {
    const was = oldDirs.get(name);
    if (!was || entryRef(was) !== entryRef(e)) differing.add(name);
  }
  for (const name of oldDirs.keys()) if (!newDirs.has(name)) differing.add(name);
  const before = new Map<string, EntryRef>();
  const after = new Map<string, EntryRef>();
  if (oldTree) entriesUnder(src, oldTree, differing, before);
  entriesUnder(src, newTree, differing, after);
  const changed: EntryRef[] = [];
  for (const [uid, ref] of after) if (before.get(uid)?.version !== ref.version) changed.push(ref);
  const removed = [...before.keys()].filter((uid) => !after.has(uid));
  return { changed, removed };
}

function fileIn(t: Tree, name: string): TreeEntry | undefined {
  return t.e.find((e) => entryName(e) === name && isFileEntry(e));
}

/** Reads what the catalog shows of one entry version. Never throws on bad metadata. */
export function describeEntry(src: TreeSource, ref: EntryRef): EntryDetails {
  if (ref.layout === 0) {
    const raw = ref.meta && entrySize(ref.meta) <= MAX_LAYOUT0_META ? fileBytes(ref.meta, src.blob) : Buffer.from('{}');
    const { props, problems } = layout0Props(raw);
    const info = entryInfo(ref.uid, props);
    info.problems.push(...problems);
    return {
      ref,
      info,
      data: ref.data ? { id: refOf(ref.data), size: entrySize(ref.data) } : null,
      preview: ref.preview ? { id: refOf(ref.preview), size: entrySize(ref.preview) } : null,
      metaRef: ref.meta ? refOf(ref.meta) : null,
    };
  }
  const entry = src.tree(ref.version);
  const data = fileIn(entry, 'data');
  const metaDir = entry.e.find((e) => entryName(e) === 'metadata' && isDirEntry(e));
  const props: Record<string, Buffer> = {};
  let preview: TreeEntry | undefined;
  if (metaDir) {
    const meta = src.tree(entryRef(metaDir));
    preview = fileIn(meta, 'preview');
    for (const key of INDEXED_KEYS) {
      const f = fileIn(meta, key);
      if (f && entrySize(f) <= MAX_INDEXED_VALUE) props[key] = fileBytes(f, src.blob);
    }
  }
  const info = entryInfo(ref.uid, props);
  if (!metaDir) info.problems.push('no metadata folder');
  return {
    ref,
    info,
    data: data ? { id: refOf(data), size: entrySize(data) } : null,
    preview: preview ? { id: refOf(preview), size: entrySize(preview) } : null,
    metaRef: metaDir ? entryRef(metaDir) : null,
  };
}
