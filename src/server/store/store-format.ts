/**
 * store-format — `<root>/store-format.json`, what a store's layout is.
 *
 *   { "format": "ds-backup-store", "version": 1, "createdAt": "<ISO time>",
 *     "writtenBy": "ds-backup 0.1.0",
 *     "pool": { "hash": "sha256", "blobs": "pool/ab/<id>", "trees": "trees/ab/<id>", "depth": 1 } }
 *
 * Written atomically (temp, fsync, rename, fsync folder) when a store is
 * created; read every time one is opened (serve, reindex, cleanup, legacy …).
 * A store without the file was made before it existed: that is version 1,
 * and the file is added (an upgrade in place that changes nothing else).
 * A newer version is refused with a message naming the ds-backup that wrote
 * it. Each future version bump adds its step to UPGRADES (in place), or
 * refuses with the command that upgrades it.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../../platform/durable.js';
import { AppError } from '../../platform/errors.js';
import { POOL_DEPTH } from './local-store.js';

export const STORE_FORMAT = 'ds-backup-store';
export const STORE_FORMAT_VERSION = 2;
/** The ds-backup release this code is (package.json "version"). */
export const DS_BACKUP_VERSION = '0.1.0';
export const FORMAT_FILE = 'store-format.json';

export interface StoreFormat {
  format: string;
  version: number;
  createdAt: string;
  writtenBy: string;
  pool: { hash: string; blobs: string; trees: string; depth: number };
  /** Where pool, trees and snapshot records are: s3://bucket/prefix; absent = this root. */
  objects?: string;
}

/**
 * Steps from version N to N+1, run in place at open.
 * 1 → 2: trees may hold chunked files ("c" entries, protocol/chunked.ts).
 * Nothing on disk changes (a version 1 store has none); the bump makes an
 * older ds-backup, which would not see the chunks a tree names (and so let
 * cleanup delete them), refuse the store instead.
 */
const UPGRADES: Record<number, (root: string) => void> = { 1: () => {} };

function current(createdAt: string): StoreFormat {
  return {
    format: STORE_FORMAT,
    version: STORE_FORMAT_VERSION,
    createdAt,
    writtenBy: `ds-backup ${DS_BACKUP_VERSION}`,
    pool: { hash: 'sha256', blobs: 'pool/ab/<id>', trees: 'trees/ab/<id>', depth: POOL_DEPTH },
  };
}

function write(root: string, f: StoreFormat): void {
  writeFileAtomic(join(root, FORMAT_FILE), JSON.stringify(f, null, 2) + '\n');
}

function read(root: string): StoreFormat {
  const path = join(root, FORMAT_FILE);
  let f: StoreFormat;
  try {
    f = JSON.parse(readFileSync(path, 'utf8')) as StoreFormat;
  } catch (e) {
    throw new AppError('unavailable', `${path} cannot be read (${(e as Error).message}); fix or restore it`);
  }
  if (!f || f.format !== STORE_FORMAT || !Number.isInteger(f.version) || f.version < 1)
    throw new AppError('unavailable', `${path} does not describe a ds-backup store`);
  return f;
}

/**
 * Checks (and creates or upgrades) the format file of the store at `root`.
 * `isNew`: the root had no pool yet, so this is a fresh store. `objects`:
 * the bucket asked for (s3://…), recorded in a new store's file; an existing
 * store keeps what it recorded (given another: refused; none: the recorded one).
 */
export function openStoreFormat(root: string, isNew: boolean, objects = ''): StoreFormat {
  if (!existsSync(join(root, FORMAT_FILE))) {
    if (isNew) {
      const f = current(new Date().toISOString());
      if (objects) f.objects = objects;
      write(root, f);
      return f;
    }
    // Made before the file existed: version 1, upgraded below like any other.
    write(root, { ...current('before store-format.json (version 1 layout)'), version: 1 });
  }
  let f = read(root);
  if (objects && (f.objects ?? '') !== objects)
    throw new AppError(
      'unavailable',
      `the store at ${root} keeps its objects ${f.objects ? `in ${f.objects}` : 'on its own disk'}; ` +
        (f.objects ? `give --store ${f.objects} (or the config key "store")` : 'run without --store'),
    );
  if (f.version > STORE_FORMAT_VERSION)
    throw new AppError(
      'unavailable',
      `the store at ${root} has format version ${f.version} (written by ${f.writtenBy ?? 'a newer ds-backup'}); ` +
        `ds-backup ${DS_BACKUP_VERSION} reads versions up to ${STORE_FORMAT_VERSION}: ` +
        `run ${f.writtenBy ?? 'a newer ds-backup'} or newer on it`,
    );
  while (f.version < STORE_FORMAT_VERSION) {
    const step = UPGRADES[f.version];
    if (!step)
      throw new AppError(
        'unavailable',
        `the store at ${root} has format version ${f.version}, which ds-backup ${DS_BACKUP_VERSION} cannot upgrade`,
      );
    step(root);
    f = { ...f, version: f.version + 1, writtenBy: `ds-backup ${DS_BACKUP_VERSION}` };
    write(root, f);
  }
  return f;
}
