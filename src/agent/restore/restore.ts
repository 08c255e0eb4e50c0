/**
 * restore — brings backups back onto the laptop.
 *
 * restoreAll: every source of the chosen snapshot (the latest of each source,
 * or --snapshot NAME) into `--to DIR/<source>`, or back into the live Journal
 * (and Documents) — there a newer local file is kept unless `force`, and
 * Sugar is told to rebuild its index (index_updated removed).
 * restoreEntry: one Journal entry by uid, written as a valid layout-6 entry
 * folder `<dest>/datastore/<uid[:2]>/<uid>/` (layout-0 backups are
 * converted), or as a Journal Entry Bundle (.xoj) with `xoj`.
 */
import { join } from 'node:path';
import { AppError } from '../../platform/errors.js';
import type { Tree } from '../../protocol/tree.js';
import { ApiClient } from '../client.js';
import { materialize, removeIfPresent, type MaterializeStats } from './materialize.js';
import type { Profile } from '../profile.js';
import { fetchTrees, listSnapshots, pickSnapshots, type RemoteSnapshot } from './remote.js';
import { findEntry, writeEntry } from './entry-restore.js';
import { restorePinnedEntry } from './pins.js';
import { TreeSpool } from './tree-spool.js';

export interface RestoreOptions {
  profile: Profile;
  snapshot?: string;
  to?: string;
  documents?: string;
  force?: boolean;
  onStart?: (bytes: number) => void;
  onProgress?: (n: number) => void;
}

export interface RestoreResult {
  restored: Array<{ snapshot: string; source: string; dest: string } & MaterializeStats>;
  seconds: number;
}

function destFor(opts: RestoreOptions, source: string): string {
  if (opts.to) return join(opts.to, source);
  if (source === 'datastore') return opts.profile.datastore;
  const docs = opts.profile.documentsDir(opts.documents);
  if (source === 'documents' && docs) return docs;
  throw new AppError('bad_request', `no local folder for source ${source}; use --to DIR`);
}

async function withClient<T>(profile: Profile, fn: (c: ApiClient, serial: string) => Promise<T>): Promise<T> {
  const cfg = profile.requireConfig();
  const client = new ApiClient(cfg.server, cfg.token);
  try {
    return await fn(client, cfg.serial);
  } finally {
    await client.close();
  }
}

export function restoreAll(opts: RestoreOptions): Promise<RestoreResult> {
  const started = Date.now();
  return withClient(opts.profile, async (client, serial) => {
    const { snapshots } = await listSnapshots(client);
    const chosen = pickSnapshots(snapshots, serial, opts.snapshot);
    const restored: RestoreResult['restored'] = [];
    for (const snap of chosen) {
      const dest = destFor(opts, snap.source);
      const trees = await new TreeSpool().fetch(client, snap.root);
      let stats: MaterializeStats;
      try {
        opts.onStart?.(snap.bytes); // (files already in place are skipped: the bar may end short)
        stats = await materialize(client, trees, snap.root, dest, {
          overwriteNewer: Boolean(opts.to) || Boolean(opts.force),
          onProgress: opts.onProgress,
        });
      } finally {
        trees.close();
      }
      if (!opts.to && snap.source === 'datastore') removeIfPresent(join(dest, 'index_updated'));
      restored.push({ snapshot: snap.name, source: snap.source, dest, ...stats });
    }
    return { restored, seconds: (Date.now() - started) / 1000 };
  });
}

export interface EntryRestoreOptions extends RestoreOptions {
  uid: string;
  xoj?: boolean;
  /** A pinned entry version (id or 8+ character prefix): restored even when no snapshot holds it. */
  version?: string;
}

export function restoreEntry(
  opts: EntryRestoreOptions,
): Promise<{ uid: string; snapshot: string; path: string; title: string }> {
  return withClient(opts.profile, async (client, serial) => {
    if (opts.version) {
      const datastore = opts.to ? join(opts.to, 'datastore') : opts.profile.datastore;
      return restorePinnedEntry(client, {
        uid: opts.uid,
        version: opts.version,
        datastore,
        xojDir: opts.to ?? process.cwd(),
        xoj: Boolean(opts.xoj),
        force: Boolean(opts.force) || Boolean(opts.to),
        live: !opts.to,
      });
    }
    const { snapshots } = await listSnapshots(client);
    const [snap] = pickSnapshots(snapshots, serial, opts.snapshot, 'datastore') as RemoteSnapshot[];
    const trees: Map<string, Tree> = await fetchTrees(client, snap.root);
    const entry = findEntry(trees, snap.root, opts.uid);
    if (!entry) throw new AppError('not_found', `no Journal entry ${opts.uid} in ${snap.name}`);
    const datastore = opts.to ? join(opts.to, 'datastore') : opts.profile.datastore;
    const out = await writeEntry(client, trees, entry, {
      datastore,
      xojDir: opts.to ?? process.cwd(),
      xoj: Boolean(opts.xoj),
      force: Boolean(opts.force) || Boolean(opts.to),
    });
    if (!opts.to && !opts.xoj) removeIfPresent(join(datastore, 'index_updated'));
    return { uid: opts.uid, snapshot: snap.name, path: out.path, title: out.title };
  });
}
