/**
 * dav/names — file and folder names a person understands and every system
 * accepts.
 *
 *  - portableName(): one path component that Windows, macOS and Linux can all
 *    hold: the characters Windows forbids (< > : " / \ | ? * and control
 *    characters) become "_", trailing dots and spaces go (Windows drops
 *    them), and reserved device names (CON, NUL, COM1…) get a "_" in front.
 *  - dateFolder(): "2026-11-28 14.05" from a snapshot name
 *    (datastore-2026-11-28_14:05[:SS[.mmm]]): the backup's date and time, no
 *    colon.
 * Duplicates are numbered " (2)", " (3)"… by exports.ts uniqueName().
 */
import { SNAPSHOT_NAME_RE, wellFormed } from '../../../protocol/names.js';

const RESERVED = /^(con|prn|aux|nul|com[0-9]|lpt[0-9])(\..*)?$/i;

export function portableName(name: string): string {
  const clean = wellFormed(name);
  // eslint-disable-next-line no-control-regex
  let n = clean.replace(/[<>:"/\\|?*\u0000-\u001f\u007f]/g, '_').replace(/[. ]+$/, '');
  if (!n || n === '.' || n === '..') n = '_';
  if (RESERVED.test(n)) n = `_${n}`;
  return n;
}

export function dateFolder(snapshotName: string, createdAt: number): string {
  const m = SNAPSHOT_NAME_RE.exec(snapshotName);
  const stamp = m ? m[2] : new Date(createdAt).toISOString().slice(0, 16).replace('T', '_');
  return stamp.replace('_', ' ').replace(/:/g, '.');
}
