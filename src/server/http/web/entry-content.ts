/**
 * entry-content — the bytes of one catalogued Journal entry version, read
 * from the pool: its full metadata (every key, for .xoj bundles and the
 * details view), its data file and its preview.
 *
 * Layout 6: `version` is the entry folder's tree (data file + metadata/),
 * `meta_ref` the metadata folder's tree, one blob per key. Layout 0:
 * `meta_ref` is the `.metadata` JSON blob, `data_blob`/`preview_blob` the
 * files. The caller has authorized the row (it belongs to the account).
 */
import { entryName, entrySize, isFileEntry, readTrustedTree, type Tree } from '../../../protocol/tree.js';
import { layout0Props } from '../../../journal/metadata.js';
import type { EntryRow } from '../../catalog/catalog.js';
import type { Pool } from '../../store/pool.js';

const MAX_META_VALUE = 1024 * 1024;

export async function entryMetadata(pool: Pool, e: EntryRow): Promise<Record<string, Buffer>> {
  const props: Record<string, Buffer> = {};
  if (e.layout === 0) {
    if (e.meta_ref)
      for (const [k, v] of Object.entries(layout0Props(await pool.refBytes(e.meta_ref)).props))
        props[k] = Buffer.from(v);
    if (e.preview_blob) props.preview = await pool.refBytes(e.preview_blob);
    return props;
  }
  if (!e.meta_ref) return props;
  const meta: Tree = readTrustedTree(await pool.readTree(e.meta_ref));
  const files = meta.e.filter((f) => isFileEntry(f) && !entryName(f).startsWith('.') && entrySize(f) <= MAX_META_VALUE);
  const bytes = await Promise.all(files.map((f) => pool.entryBytes(f)));
  files.forEach((f, i) => (props[entryName(f)] = bytes[i]));
  return props;
}

/** Metadata shown on the details view: text values, no preview, long ones cut. */
export function displayMetadata(props: Record<string, Buffer>): Array<[string, string]> {
  return Object.keys(props)
    .filter((k) => k !== 'preview')
    .sort()
    .map((k) => {
      const s = props[k].subarray(0, 2000).toString('utf8');
      return [k, props[k].length > 2000 ? `${s}…` : s] as [string, string];
    });
}
