/**
 * store — one server root: its folders, pool, catalog and registry.
 *
 *   <root>/pool/ trees/ incoming/   see pool.ts
 *   <root>/users/<SN>/              device.json and snapshot folders
 *   <root>/catalog.sqlite           the index (catalog.ts)
 *
 * Opening a store also repairs what a crash may have left: temp files and
 * half-written snapshot folders are removed, and snapshot folders that reached
 * the disk but not the catalog are indexed.
 */
import { mkdirSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { openCatalog, type Catalog } from '../catalog/catalog.js';
import { Pool } from './pool.js';
import { Registry } from '../accounts/registry.js';
import { AdminAuth } from '../accounts/admin.js';
import { WebAuth } from '../http/web/web-auth.js';
import { cleanTempFolders } from './snapshots.js';
import { readTrustedTree, type Tree } from '../../protocol/tree.js';
import type { TreeSource } from '../catalog/indexer.js';

export class Store {
  readonly root: string;
  readonly usersDir: string;
  readonly pool: Pool;
  readonly db: Catalog;
  readonly registry: Registry;
  readonly admin: AdminAuth;
  /** Web sessions, one-time links, restore PINs, replacement approvals (web/web-auth.ts). */
  readonly webAuth: WebAuth;

  constructor(root: string) {
    this.root = resolve(root);
    mkdirSync(this.root, { recursive: true });
    this.usersDir = join(this.root, 'users');
    mkdirSync(this.usersDir, { recursive: true });
    this.pool = new Pool(this.root);
    this.db = openCatalog(join(this.root, 'catalog.sqlite'));
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

  /** Removes crash leftovers (temp blobs, half snapshot folders). */
  repair(): void {
    this.pool.cleanIncoming();
    for (const sn of this.serials()) cleanTempFolders(this.userDir(sn));
  }

  /** Reads trees from `extra` first (a commit's new trees), then from disk. */
  treeSource(extra?: Map<string, Tree>): TreeSource {
    return {
      tree: (id) => extra?.get(id) ?? readTrustedTree(this.pool.readTree(id)),
      blob: (id) => this.pool.readBlob(id),
    };
  }

  close(): void {
    this.db.close();
  }
}
