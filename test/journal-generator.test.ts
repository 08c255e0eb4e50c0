// Tests for the Journal generator, mutateJournal and readJournal (both layouts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { gzipSync } from 'node:zlib';
import { generateJournal, mutateJournal, writeProfile, DEFAULT_NOW } from '../src/journal/gen/generator.js';
import { readJournal, datastoreVersion } from '../src/journal/reader.js';
import { decodePreview, UID_RE } from '../src/journal/metadata.js';
import { tempDir, removeDir, treeListing, sha256File } from './helpers/journal-tree.js';

const PNG = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
const UUID4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

function withTemp(tag: string, fn: (dir: string) => void | Promise<void>): () => Promise<void> {
  return async () => {
    const dir = tempDir(tag);
    try {
      await fn(dir);
    } finally {
      removeDir(dir);
    }
  };
}

/** Every mtime in the tree comes from the generator, none from the clock (all before 2017). */
function assertNoClockTimes(root: string): void {
  for (const line of treeListing(root)) {
    const f = line.split('\t');
    const mtime = Number(f[1] === 'f' ? f[3] : f[2]);
    assert.ok(mtime < 1.5e9, `clock time leaked: ${line}`);
  }
}

function entryDir(ds: string, uid: string): string {
  return `${ds}/${uid.slice(0, 2)}/${uid}`;
}

test(
  'same seed gives a byte-identical tree (names, sizes, mtimes, contents)',
  withTemp('gen-det', (dir) => {
    const a = generateJournal(`${dir}/a`, { seed: 'laptop-1', entries: 40 });
    const b = generateJournal(`${dir}/b`, { seed: 'laptop-1', entries: 40 });
    assert.deepEqual(a, b);
    assert.deepEqual(treeListing(`${dir}/a`), treeListing(`${dir}/b`));
    assertNoClockTimes(`${dir}/a`);
    generateJournal(`${dir}/c`, { seed: 'laptop-2', entries: 40 });
    assert.notDeepEqual(treeListing(`${dir}/a`), treeListing(`${dir}/c`));
  }),
);

test(
  'layout 6 shape: version, flags, index, entry folders, checksum markers',
  withTemp('gen-l6', (dir) => {
    const ds = `${dir}/datastore`;
    const s = generateJournal(ds, { seed: 's6', entries: 30 });
    assert.equal(fs.readFileSync(`${ds}/version`, 'latin1'), '6');
    assert.equal(datastoreVersion(ds), 6);
    assert.equal(fs.statSync(`${ds}/ds_clean`).size, 0);
    assert.equal(fs.statSync(`${ds}/index_updated`).size, 0);
    assert.ok(fs.readdirSync(`${ds}/index`).length >= 2);
    assert.equal(s.entries.length, 30);
    for (const e of s.entries) {
      assert.match(e.uid, UUID4);
      const d = entryDir(ds, e.uid);
      assert.equal(fs.existsSync(`${d}/data`), e.hasData);
      for (const key of [
        'uid',
        'title',
        'activity',
        'activity_id',
        'mime_type',
        'timestamp',
        'mtime',
        'filesize',
        'keep',
      ]) {
        assert.ok(fs.existsSync(`${d}/metadata/${key}`), `${e.uid} lacks ${key}`);
      }
      assert.equal(fs.readFileSync(`${d}/metadata/uid`, 'utf8'), e.uid);
      assert.match(fs.readFileSync(`${d}/metadata/timestamp`, 'utf8'), /^\d+$/);
      assert.equal(fs.readFileSync(`${d}/metadata/filesize`, 'utf8'), String(e.dataSize));
      if (e.hasData) {
        const md5 = fs.readFileSync(`${d}/metadata/checksum`, 'utf8');
        assert.ok(fs.existsSync(`${ds}/checksums/${md5}/${e.uid}`));
      }
    }
    assert.ok(
      s.entries.some((e) => !e.hasData),
      'an entry without data',
    );
    assert.ok(
      s.entries.some((e) => e.hasData && e.dataSize === 0),
      'a zero-byte data file',
    );
    assert.ok(s.entries.some((e) => e.keep) && s.entries.some((e) => !e.keep), 'starred and unstarred');
    const fileCount = treeListing(ds).filter((l) => l.split('\t')[1] === 'f').length;
    assert.equal(s.files, fileCount);
  }),
);

test(
  'special cases: unicode titles, hard links, empty and base64 previews',
  withTemp('gen-special', (dir) => {
    const ds = `${dir}/datastore`;
    const s = generateJournal(ds, { seed: 'special', entries: 12 });
    const titles = s.entries.map((e) => e.title);
    assert.ok(
      titles.some((t) => /[ñáéíóú]/.test(t)),
      'Spanish accents',
    );
    assert.ok(
      titles.some((t) => /[\u4e00-\u9fff]/.test(t)),
      'CJK',
    );
    assert.ok(
      titles.some((t) => /\p{Extended_Pictographic}/u.test(t)),
      'emoji',
    );
    for (const e of s.entries) assert.equal(fs.readFileSync(`${entryDir(ds, e.uid)}/metadata/title`, 'utf8'), e.title);

    const inodes = new Map<number, string[]>();
    for (const e of s.entries.filter((x) => x.hasData)) {
      const p = `${entryDir(ds, e.uid)}/data`;
      const ino = fs.statSync(p).ino;
      inodes.set(ino, [...(inodes.get(ino) ?? []), p]);
    }
    const linked = [...inodes.values()].filter((ps) => ps.length > 1);
    assert.ok(linked.length >= 1, 'hard-linked data files');
    assert.ok(fs.statSync(linked[0][0]).nlink >= 2);

    const previews = s.entries
      .map((e) => `${entryDir(ds, e.uid)}/metadata/preview`)
      .filter((p) => fs.existsSync(p))
      .map((p) => fs.readFileSync(p));
    assert.ok(
      previews.some((p) => p.length === 0),
      'an empty preview',
    );
    const b64 = previews.filter((p) => p.length > 0 && !p.subarray(0, 8).equals(PNG));
    assert.ok(b64.length >= 1, 'a base64 preview');
    for (const p of b64) assert.ok(decodePreview(p).subarray(0, 8).equals(PNG));
  }),
);

test(
  'layout 0 shape: store/<uid>, store/<uid>.metadata JSON, store/preview/<uid>',
  withTemp('gen-l0', (dir) => {
    const ds = `${dir}/datastore`;
    const s = generateJournal(ds, { seed: 's0', entries: 20, layout: 0 });
    assert.equal(fs.existsSync(`${ds}/version`), false);
    assert.equal(datastoreVersion(ds), 0);
    for (const e of s.entries) {
      assert.equal(fs.existsSync(`${ds}/store/${e.uid}`), e.hasData);
      const json = JSON.parse(fs.readFileSync(`${ds}/store/${e.uid}.metadata`, 'utf8')) as Record<string, unknown>;
      assert.equal(json.title, e.title);
      assert.ok(Object.values(json).every((v) => typeof v === 'string'));
      assert.equal('preview' in json, false);
    }
    assert.ok(fs.readdirSync(`${ds}/store/preview`).length > 0);
    assertNoClockTimes(ds);
  }),
);

function assertRoundTrip(ds: string, layout: 6 | 0, summary: ReturnType<typeof generateJournal>): void {
  const read = readJournal(ds);
  assert.equal(read.length, summary.entries.length);
  const byUid = new Map(read.map((r) => [r.uid, r]));
  for (const e of summary.entries) {
    const r = byUid.get(e.uid);
    assert.ok(r, e.uid);
    assert.equal(r.layout, layout);
    assert.deepEqual(r.info.problems, []);
    assert.equal(r.info.title, e.title);
    assert.equal(r.info.activity, e.activity);
    assert.equal(r.info.mimeType, e.mimeType);
    assert.equal(r.info.keep, e.keep);
    assert.equal(r.dataPath !== null, e.hasData);
    if (r.dataPath) assert.equal(fs.statSync(r.dataPath).size, e.dataSize);
    assert.ok(r.info.timestamp !== null && r.info.timestamp <= DEFAULT_NOW);
  }
  assert.ok(read.some((r) => r.metadata.preview && decodePreview(r.metadata.preview).subarray(0, 8).equals(PNG)));
}

test(
  'readJournal round-trips the generated summary (layout 6)',
  withTemp('read6', (dir) => {
    assertRoundTrip(`${dir}/ds`, 6, generateJournal(`${dir}/ds`, { seed: 'rt6', entries: 40 }));
  }),
);

test(
  'readJournal round-trips the generated summary (layout 0)',
  withTemp('read0', (dir) => {
    assertRoundTrip(`${dir}/ds`, 0, generateJournal(`${dir}/ds`, { seed: 'rt0', entries: 40, layout: 0 }));
  }),
);

test(
  'readJournal skips dot-files and keeps broken entries with problems',
  withTemp('read-broken', (dir) => {
    const ds = `${dir}/ds`;
    const s = generateJournal(ds, { seed: 'broken', entries: 5 });
    const good = entryDir(ds, s.entries[0].uid);
    fs.writeFileSync(`${good}/metadata/.title`, 'temp');
    fs.writeFileSync(`${good}/metadata/timestamp`, 'not a number');
    const bare = `${ds}/ab/ab${'0'.repeat(6)}-0000-4000-8000-${'0'.repeat(12)}`;
    fs.mkdirSync(bare, { recursive: true });
    fs.mkdirSync(`${ds}/zz/not-an-entry`, { recursive: true });
    fs.mkdirSync(`${ds}/store`);
    fs.writeFileSync(`${ds}/store/${'1'.repeat(8)}-1111-4111-8111-${'1'.repeat(12)}.metadata`, '{oops');
    const read = readJournal(ds);
    assert.equal(read.length, 7);
    const g = read.find((r) => r.uid === s.entries[0].uid)!;
    assert.equal('.title' in g.metadata, false);
    assert.ok(g.info.problems.includes('timestamp: not a number'));
    assert.ok(read.find((r) => r.uid.startsWith('ab'))!.info.problems.includes('metadata: folder missing'));
    assert.ok(read.find((r) => r.layout === 0)!.info.problems.includes('metadata is not valid JSON'));
  }),
);

test(
  'sharedPool: different laptops share identical data files',
  withTemp('gen-pool', (dir) => {
    const pool = { seed: 'classroom-7', fraction: 0.5 };
    const hashes = (ds: string): Set<string> =>
      new Set(
        readJournal(ds)
          .filter((r) => r.dataPath)
          .map((r) => sha256File(r.dataPath!)),
      );
    const s1 = generateJournal(`${dir}/a`, { seed: 'SHC31100365', entries: 60, sharedPool: pool });
    generateJournal(`${dir}/b`, { seed: 'SHF82300C5D', entries: 60, sharedPool: pool });
    generateJournal(`${dir}/c`, {
      seed: 'SHF82300C5D',
      entries: 60,
      sharedPool: { seed: 'other-school', fraction: 0.5 },
    });
    const [a, b, c] = [hashes(`${dir}/a`), hashes(`${dir}/b`), hashes(`${dir}/c`)];
    const common = [...a].filter((h) => b.has(h));
    assert.ok(common.length >= 5, `only ${common.length} shared files`);
    const empty = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
    assert.equal([...a].filter((h) => c.has(h) && h !== empty).length, 0);
    assert.notDeepEqual(
      s1.entries.map((e) => e.uid),
      readJournal(`${dir}/b`).map((r) => r.uid),
    );
  }),
);

test(
  'mutateJournal edits about fraction of the entries, adds two, deletes one; deterministically',
  withTemp('mutate', (dir) => {
    generateJournal(`${dir}/a`, { seed: 'm', entries: 50 });
    generateJournal(`${dir}/b`, { seed: 'm', entries: 50 });
    const before = new Map(readJournal(`${dir}/a`).map((r) => [r.uid, r]));
    const ra = mutateJournal(`${dir}/a`, { seed: 'day-2', fraction: 0.2 });
    const rb = mutateJournal(`${dir}/b`, { seed: 'day-2', fraction: 0.2 });
    assert.deepEqual(ra, rb);
    assert.deepEqual(treeListing(`${dir}/a`), treeListing(`${dir}/b`));
    assertNoClockTimes(`${dir}/a`);
    assert.equal(ra.changed.length, 10);
    assert.equal(ra.added.length, 2);
    assert.equal(ra.deleted.length, 1);
    const after = readJournal(`${dir}/a`);
    assert.equal(after.length, 51);
    assert.ok(after.every((r) => r.info.problems.length === 0));
    const afterBy = new Map(after.map((r) => [r.uid, r]));
    assert.equal(afterBy.has(ra.deleted[0]), false);
    for (const uid of ra.changed) {
      const [old, now] = [before.get(uid)!, afterBy.get(uid)!];
      assert.ok(now.info.timestamp! > old.info.timestamp!);
      if (now.dataPath) {
        assert.equal(fs.statSync(now.dataPath).size, Number(now.metadata.filesize.toString()));
        assert.equal(fs.statSync(now.dataPath).nlink, 1);
        assert.ok(fs.existsSync(`${dir}/a/checksums/${now.metadata.checksum.toString()}/${uid}`));
      }
    }
    const unchanged = [...before.keys()].filter((u) => !ra.changed.includes(u) && !ra.deleted.includes(u));
    for (const uid of unchanged) assert.equal(afterBy.get(uid)!.info.timestamp, before.get(uid)!.info.timestamp);
  }),
);

test(
  'reference scale: realistic sizes, incompressible media, compressible text',
  withTemp('gen-ref', (dir) => {
    const s = generateJournal(`${dir}/ds`, { seed: 'ref', entries: 40, scale: 'reference' });
    for (const e of s.entries.filter((x) => x.mimeType === 'image/png' && x.dataSize > 0)) {
      assert.ok(e.dataSize >= 85 * 1024 && e.dataSize <= 145 * 1024, `paint ${e.dataSize}`);
    }
    const read = readJournal(`${dir}/ds`);
    const png = read.find((r) => r.info.mimeType === 'image/png' && r.dataPath)!;
    const media = fs.readFileSync(png.dataPath!);
    assert.ok(media.subarray(0, 8).equals(PNG));
    assert.ok(gzipSync(media).length > media.length * 0.99);
    const text = read.find(
      (r) => r.info.activity === 'org.laptop.TurtleArtActivity' && r.dataPath && fs.statSync(r.dataPath).size > 100,
    )!;
    const tb = fs.readFileSync(text.dataPath!);
    assert.ok(gzipSync(tb).length < tb.length * 0.8);
  }),
);

test(
  'writeProfile: datastore, Documents with a nested folder and symlink, identifiers/sn',
  withTemp('profile', (dir) => {
    const p = `${dir}/default`;
    const s = writeProfile(p, { seed: 'p', entries: 10, serial: 'SHC31100365', documents: true });
    assert.equal(fs.readFileSync(`${p}/identifiers/sn`, 'utf8'), 'SHC31100365');
    assert.equal(fs.readFileSync(`${p}/datastore/version`, 'utf8'), '6');
    const link = `${p}/Documents/última foto`;
    assert.ok(fs.lstatSync(link).isSymbolicLink());
    assert.ok(fs.readFileSync(link).equals(fs.readFileSync(`${p}/Documents/Mis fotos/playa.jpg`)));
    assert.ok(fs.statSync(`${p}/Documents/Mis fotos/viaje/mapa.png`).isFile());
    const files = treeListing(p).filter((l) => l.split('\t')[1] === 'f');
    assert.equal(s.files, files.length);
    assertNoClockTimes(p);
    assert.equal(
      s.bytes,
      files.reduce((n, l) => n + Number(l.split('\t')[2]), 0),
    );
    assert.ok(readJournal(`${p}/datastore`).every((r) => UID_RE.test(r.uid)));
  }),
);
