/**
 * pins (agent) — keep a snapshot or one Journal entry version beyond the
 * server's thinning, list pins, and restore a pinned entry version even when
 * no snapshot holds it any more (the pin carries the entry's tree entries).
 */
import { join } from 'node:path';
import { AppError } from '../../platform/errors.js';
import { entryRef, type Tree } from '../../protocol/tree.js';
import { API } from '../../protocol/api.js';
import type { PinView } from '../../protocol/api-types.js';
import type { ApiClient } from '../client.js';
import { writeEntry, type EntryLocation } from './entry-restore.js';
import { removeIfPresent } from './materialize.js';
import { fetchTrees } from './remote.js';

export type RemotePin = PinView;

export async function listPins(client: ApiClient): Promise<RemotePin[]> {
  return (await client.call(API.pins, {})).pins;
}

export async function addPin(
  client: ApiClient,
  what: { snapshot?: string; entry?: string; version?: string },
): Promise<RemotePin> {
  return client.call(API.addPin, {}, { json: what });
}

/** Removes pins by id, or every pin matching a snapshot name or entry (and version). */
export async function removePins(
  client: ApiClient,
  what: { id?: string; snapshot?: string; entry?: string; version?: string },
): Promise<RemotePin[]> {
  const hits = (await listPins(client)).filter((p) =>
    what.id
      ? p.id === what.id
      : what.snapshot
        ? p.kind === 'snapshot' && p.snapshot === what.snapshot
        : p.kind === 'entry' && p.uid === what.entry && (!what.version || Boolean(p.version?.startsWith(what.version))),
  );
  if (!hits.length) throw new AppError('not_found', 'no such pin; see: ds-backup pins');
  for (const p of hits) await client.call(API.removePin, { id: p.id });
  return hits;
}

/** Restores a pinned entry version (layout 6 as an entry folder, layout 0 converted). */
export async function restorePinnedEntry(
  client: ApiClient,
  opts: {
    uid: string;
    version: string;
    datastore: string;
    xojDir: string;
    xoj: boolean;
    force: boolean;
    live: boolean;
  },
): Promise<{ uid: string; snapshot: string; path: string; title: string }> {
  const pin = (await listPins(client)).find(
    (p) => p.kind === 'entry' && p.uid === opts.uid && p.version?.startsWith(opts.version),
  );
  if (!pin)
    throw new AppError(
      'not_found',
      `entry ${opts.uid} version ${opts.version} is not pinned; restore it from a snapshot with --snapshot NAME`,
    );
  let loc: EntryLocation;
  let trees = new Map<string, Tree>();
  if (pin.layout === 6 && pin.dir) {
    trees = await fetchTrees(client, entryRef(pin.dir));
    loc = { layout: 6, uid: opts.uid, dir: pin.dir };
  } else if (pin.layout === 0 && pin.files?.meta) {
    loc = { layout: 0, uid: opts.uid, meta: pin.files.meta, data: pin.files.data, preview: pin.files.preview };
  } else throw new AppError('internal', `pin ${pin.id} does not say where the entry is`);
  const out = await writeEntry(client, trees, loc, opts);
  if (opts.live && !opts.xoj) removeIfPresent(join(opts.datastore, 'index_updated'));
  return { uid: opts.uid, snapshot: `pin ${pin.id} (version ${pin.version})`, path: out.path, title: out.title };
}
