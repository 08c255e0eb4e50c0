/**
 * reader — a Sugar datastore folder on disk, read into Journal entries.
 *
 * Both layouts are read, whichever are present (a half-migrated datastore
 * may hold both): layout 6 from `<uid[:2]>/<uid>/` folders (only two-character
 * folders holding 36-character names are entries), layout 0 from
 * `store/<uid>` + `store/<uid>.metadata` + `store/preview/<uid>`, the preview
 * going into `metadata.preview` so both layouts look the same to callers.
 *
 * Contract: readJournal throws only when the datastore folder itself cannot
 * be listed. A broken entry (no metadata, unreadable file, bad JSON, a data
 * path that is not a regular file, a property over Sugar's 500 KiB limit)
 * is still returned, its problems listed in `info.problems`. Dot-files in
 * metadata folders (Sugar's temp files) are skipped. Metadata values are
 * raw bytes; layout-0 JSON strings are turned into their UTF-8 bytes.
 * Entries come back sorted by uid, layout 6 before layout 0 for a same uid.
 */
import * as fs from 'node:fs';
import { type EntryInfo, UID_RE, entryInfo, isEntryFolder, layout0Props } from './metadata.js';
import { unlessMissing } from '../platform/fs-errors.js';

export interface JournalEntryOnDisk {
  uid: string;
  layout: 6 | 0;
  /** Absolute (or datastore-relative, as given) path of the data file; null when none. */
  dataPath: string | null;
  metadata: Record<string, Buffer>;
  info: EntryInfo;
}

/** Sugar refuses property files larger than this. */
export const MAX_PROPERTY_BYTES = 500 * 1024;

function list(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch (e) {
    unlessMissing(e);
    return [];
  }
}

function isDir(path: string): boolean {
  try {
    return fs.lstatSync(path).isDirectory();
  } catch (e) {
    unlessMissing(e);
    return false;
  }
}

/** The data path if it is a regular file; problems otherwise. */
function dataFile(path: string, problems: string[]): string | null {
  let st: fs.Stats;
  try {
    st = fs.lstatSync(path);
  } catch (e) {
    unlessMissing(e); // no data file: a metadata-only entry
    return null;
  }
  if (st.isFile()) return path;
  problems.push('data: not a regular file');
  return null;
}

function readMetadataDir(dir: string, problems: string[]): Record<string, Buffer> {
  const meta: Record<string, Buffer> = {};
  if (!isDir(dir)) {
    problems.push('metadata: folder missing');
    return meta;
  }
  for (const key of list(dir).sort()) {
    if (key.startsWith('.')) continue;
    try {
      const st = fs.lstatSync(`${dir}/${key}`);
      if (!st.isFile()) {
        problems.push(`${key}: not a regular file`);
        continue;
      }
      if (st.size > MAX_PROPERTY_BYTES) problems.push(`${key}: larger than 500 KiB`);
      meta[key] = fs.readFileSync(`${dir}/${key}`);
    } catch (e) {
      problems.push(`${key}: ${(e as Error).message}`);
    }
  }
  return meta;
}

function entry(
  uid: string,
  layout: 6 | 0,
  dataPath: string | null,
  metadata: Record<string, Buffer>,
  problems: string[],
): JournalEntryOnDisk {
  const info = entryInfo(uid, metadata);
  const metaUid = metadata.uid?.toString('utf8');
  if (metaUid !== undefined && metaUid !== uid) problems.push('uid: differs from the folder name');
  info.problems.unshift(...problems);
  return { uid, layout, dataPath, metadata, info };
}

function readLayout6(root: string): JournalEntryOnDisk[] {
  const out: JournalEntryOnDisk[] = [];
  for (const prefix of list(root)) {
    if (prefix.length !== 2 || !isDir(`${root}/${prefix}`)) continue;
    for (const name of list(`${root}/${prefix}`)) {
      const dir = `${root}/${prefix}/${name}`;
      if (!isEntryFolder(prefix, name) || !isDir(dir)) continue;
      const problems: string[] = [];
      const metadata = readMetadataDir(`${dir}/metadata`, problems);
      out.push(entry(name, 6, dataFile(`${dir}/data`, problems), metadata, problems));
    }
  }
  return out;
}

function readLayout0Entry(store: string, uid: string, hasMeta: boolean): JournalEntryOnDisk {
  const problems: string[] = [];
  const metadata: Record<string, Buffer> = {};
  if (hasMeta) {
    try {
      const parsed = layout0Props(fs.readFileSync(`${store}/${uid}.metadata`));
      problems.push(...parsed.problems);
      for (const [k, v] of Object.entries(parsed.props)) metadata[k] = Buffer.from(v, 'utf8');
    } catch (e) {
      problems.push(`metadata: ${(e as Error).message}`);
    }
  } else {
    problems.push('metadata: file missing');
  }
  delete metadata.preview;
  try {
    if (fs.lstatSync(`${store}/preview/${uid}`).isFile()) metadata.preview = fs.readFileSync(`${store}/preview/${uid}`);
  } catch (e) {
    unlessMissing(e); // no preview
  }
  return entry(uid, 0, dataFile(`${store}/${uid}`, problems), metadata, problems);
}

function readLayout0(root: string): JournalEntryOnDisk[] {
  const store = `${root}/store`;
  if (!isDir(store)) return [];
  const names = new Set(list(store));
  const uids = new Set<string>();
  for (const n of names) {
    const uid = n.endsWith('.metadata') ? n.slice(0, -'.metadata'.length) : n;
    if (UID_RE.test(uid)) uids.add(uid);
  }
  return [...uids].map((uid) => readLayout0Entry(store, uid, names.has(`${uid}.metadata`)));
}

/** Reads every entry of a datastore folder (layout 6 and layout 0). */
export function readJournal(datastoreDir: string): JournalEntryOnDisk[] {
  fs.readdirSync(datastoreDir);
  const all = [...readLayout6(datastoreDir), ...readLayout0(datastoreDir)];
  return all.sort((a, b) => (a.uid < b.uid ? -1 : a.uid > b.uid ? 1 : b.layout - a.layout));
}

/** The datastore's declared layout version: the `version` file, 0 when missing or unparsable. */
export function datastoreVersion(datastoreDir: string): number {
  try {
    const s = fs.readFileSync(`${datastoreDir}/version`, 'latin1').trim();
    return /^\d+$/.test(s) ? Number(s) : 0;
  } catch (e) {
    unlessMissing(e);
    return 0;
  }
}
