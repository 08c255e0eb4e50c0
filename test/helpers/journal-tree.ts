/**
 * journal-tree — helpers for Journal tests: temp folders and a recursive,
 * sorted listing of a tree (path, kind, size, mtime in seconds, sha256 of
 * files, target of symlinks) to compare two trees byte for byte.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createHash } from 'node:crypto';

export function tempDir(tag: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `ds-backup-${tag}-`));
}

export function removeDir(dir: string): void {
  fs.rmSync(dir, { recursive: true, force: true });
}

export function sha256File(p: string): string {
  return createHash('sha256').update(fs.readFileSync(p)).digest('hex');
}

/** One line per path under root: "rel, kind, size, mtime, sha256 | target", tab-separated, sorted. */
export function treeListing(root: string): string[] {
  const out: string[] = [];
  const walk = (rel: string): void => {
    const abs = rel ? path.join(root, rel) : root;
    const st = fs.lstatSync(abs);
    const mtime = Math.floor(st.mtimeMs / 1000);
    if (st.isSymbolicLink()) out.push(`${rel}\tl\t${mtime}\t${fs.readlinkSync(abs)}`);
    else if (st.isFile()) out.push(`${rel}\tf\t${st.size}\t${mtime}\t${sha256File(abs)}`);
    else if (st.isDirectory()) {
      out.push(`${rel || '.'}\td\t${mtime}`);
      for (const name of fs.readdirSync(abs)) walk(rel ? `${rel}/${name}` : name);
    }
  };
  walk('');
  return out.sort();
}

/** Every regular file under root (relative paths). */
export function listFiles(root: string): string[] {
  return treeListing(root)
    .filter((l) => l.split('\t')[1] === 'f')
    .map((l) => l.split('\t')[0]);
}
