/**
 * store — one server root: its object store, pool, catalog and registry.
 *
 *   <root>/store-format.json        format name and version (store-format.ts)
 *   <root>/pool/ trees/ incoming/   objects (local-store.ts, pool.ts)
 *   <root>/users/<SN>/              device.json and snapshot records (snapshots.ts)
 *   <root>/catalog.sqlite           the index (catalog/); reindex rebuilds it
 *   <root>/admin.json               admin password (scrypt) and API token hashes
 *   <root>/accounts/replacements.json  pending replaced-laptop approvals
 *   <root>/users/<SN>/restore-code.json, pins.json  each laptop's restore code and pins
 *   <root>/run/damaged/<id>         objects a read found damaged (damage.ts; every read verifies: verified-reads.ts)
 *
 * Opening a store checks its format (a newer one is refused), and repairs
 * what a crash may have left: temp files and half-written snapshot folders
 * are removed, and snapshot folders that reached the disk but not the
 * catalog are indexed.
 */
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { openCatalog, rolledBack, type Catalog } from '../catalog/catalog.js';
import { Pool } from './pool.js';
import { Registry } from '../accounts/registry.js';
import { AdminAuth } from '../accounts/admin.js';
import { WebAuth } from '../http/web/web-auth.js';
import { RestoreCodes } from '../accounts/restore-codes.js';
import { Replacements } from '../accounts/replacements.js';
import { cleanTempFolders } from './snapshots.js';
import type { Tree } from '../../protocol/tree.js';
import type { TreeSource } from '../catalog/indexer.js';
import type { ObjectStore } from './object-store.js';
import { LocalObjectStore } from './local-store.js';
import { FORMAT_FILE, openStoreFormat, type StoreFormat } from './store-format.js';
import { verifiedReads } from './verified-reads.js';
import { DamageLog } from './damage.js';
import { S3ObjectStore } from './s3-store.js';
import { openClaims, type ClaimLog } from '../catalog/claims.js';
import { makeS3Client, parseReplicaUrl, type S3Settings } from '../replica/s3.js';

/** Where a server's objects are: the config's `store` (s3://…, '' = the root) and S3 settings. */
export function openStore(cfg: { root: string; store?: string; s3?: S3Settings }): Store {
  return new Store(cfg.root, { store: cfg.store, s3: cfg.s3 });
}

export class Store {
  readonly root: string;
  readonly usersDir: string;
  readonly format: StoreFormat;
  /** Where pool, trees and snapshot records live (the local filesystem by default); reads verified. */
  readonly objects: ObjectStore;
  /** Objects reads found damaged (run/damaged/), for `verify`. */
  readonly damage: DamageLog;
  readonly pool: Pool;
  readonly db: Catalog;
  readonly registry: Registry;
  readonly admin: AdminAuth;
  /** Web sessions and one-time sign-in links (web/web-auth.ts). */
  readonly webAuth: WebAuth;
  /** Each laptop's 6-digit restore code (users/<SN>/restore-code.json). */
  readonly restoreCodes: RestoreCodes;
  /** Admin approvals for a new laptop to join an old one's account (accounts/replacements.json). */
  readonly replacements: Replacements;
  /** Claim times of a remote store's objects (catalog/claims.ts); none locally. */
  private readonly claims?: ClaimLog;

  /**
   * `where.store`: s3://bucket/prefix to keep the objects in a bucket (the
   * catalog, account files and scratch space stay under root); '' or none:
   * the local disk for a new root. A root remembers where its objects are
   * (store-format.json "objects"): later opens need no --store (another one
   * is refused), only the S3 credentials.
   */
  constructor(root: string, where: { store?: string; s3?: S3Settings } = {}) {
    this.root = resolve(root);
    mkdirSync(this.root, { recursive: true });
    const isNew = !existsSync(join(this.root, 'pool')) && !existsSync(join(this.root, FORMAT_FILE));
    this.format = openStoreFormat(this.root, isNew, where.store ?? '');
    this.usersDir = join(this.root, 'users');
    mkdirSync(this.usersDir, { recursive: true });
    this.damage = new DamageLog(this.root);
    const objects = this.format.objects;
    if (objects) this.claims = openClaims(join(this.root, 'claims.sqlite'));
    const raw: ObjectStore = objects
      ? new S3ObjectStore(makeS3Client(where.s3), parseReplicaUrl(objects), this.root, this.claims!)
      : new LocalObjectStore(this.root);
    this.objects = verifiedReads(raw, (id, kind, p) => this.damage.flag(id, kind, p));
    this.pool = new Pool(this.objects);
    this.restoreCodes = new RestoreCodes(this.usersDir);
    this.replacements = new Replacements(this.root);
    this.db = openCatalog(join(this.root, 'catalog.sqlite'), {
      // Migration 2: an old catalog's restore codes and approvals move to their files.
      secrets: ({ restoreCodes, approvals }) => {
        for (const r of restoreCodes)
          if (existsSync(this.userDir(r.serial))) this.restoreCodes.adopt(r.serial, r.code, r.updatedAt);
        const have = new Set(this.replacements.list().map((a) => a.newSerial));
        for (const a of approvals)
          if (!have.has(a.newSerial)) this.replacements.approve(a.newSerial, a.oldSerial, a.createdAt);
      },
    });
    this.registry = new Registry(this.db, this.usersDir);
    this.admin = new AdminAuth(this.root);
    this.webAuth = new WebAuth(this.db);
  }

  userDir(serial: string): string {
    return join(this.usersDir, serial);
  }

  serials(): string[] {
    return readdirSync(this.usersDir, { withFileTypes: true })
      .filter((d) => d.isDirectory() && !d.name.startsWith('.'))
      .map((d) => d.name);
  }

  /** Removes crash leftovers (temp blobs, half snapshot folders, laptops' folders half deleted). */
  repair(): void {
    this.pool.cleanIncoming();
    this.objects.removeLeftovers('users');
    for (const sn of this.serials()) cleanTempFolders(this.userDir(sn));
  }

  /**
   * Runs the catalog's synchronous indexing (`fn`) over trees read from
   * `extra` first (a commit's new trees), then from the store: directly on
   * the local disk; on a remote store, after dry passes in a rolled-back
   * transaction have fetched what it reads (Pool.prefetched).
   */
  withTrees<T>(extra: ReadonlyMap<string, Tree> | undefined, fn: (src: TreeSource) => T): Promise<T> {
    return this.pool.prefetched(extra, fn, (pass) => rolledBack(this.db, pass));
  }

  close(): void {
    this.claims?.close();
    this.db.close();
  }
}
