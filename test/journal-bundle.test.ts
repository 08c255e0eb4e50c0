// Tests for the Journal Entry Bundle (.xoj) writer and the download file names.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { execFileSync } from 'node:child_process';
import { Readable } from 'node:stream';
import {
  xojZip,
  xojMetadata,
  xojFileName,
  dataFileName,
  canBundle,
  extensionFor,
  XOJ_MIME,
} from '../src/journal/bundle.js';
import { generateJournal } from '../src/journal/gen/generator.js';
import { readJournal } from '../src/journal/reader.js';
import { readZip, collect } from './helpers/unzip.js';
import { tempDir, removeDir } from './helpers/journal-tree.js';

const UID = '00dc55d6-dd41-4007-ac0b-6e052ee7f8c0';
const PNG = Buffer.concat([
  Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
  Buffer.from('fake image body'),
]);

function meta(extra: Record<string, Buffer | string> = {}): Record<string, Buffer> {
  const base: Record<string, Buffer | string> = {
    uid: UID,
    title: 'Canción 🐢 我的画',
    activity: 'org.laptop.Oficina',
    mime_type: 'image/png',
    timestamp: '1375027455',
    keep: '1',
    mountpoint: '/media/usb',
    preview: PNG,
    ...extra,
  };
  return Object.fromEntries(Object.entries(base).map(([k, v]) => [k, Buffer.isBuffer(v) ? v : Buffer.from(v)]));
}

const NAMES = [`${UID}/_metadata.json`, `${UID}/${UID}`, `${UID}/preview/${UID}`];

test('xoj zip: member names, metadata without preview/mountpoint, data and preview bytes', async () => {
  const data = Buffer.from('the data file');
  const zip = readZip(
    await collect(xojZip({ uid: UID, metadata: meta({ bad: Buffer.from([0xff, 0xfe, 0x41]) }), data }).outputStream),
  );
  assert.deepEqual(
    zip.map((m) => m.name),
    NAMES,
  );
  const json = JSON.parse(zip[0].data.toString('utf8')) as Record<string, string>;
  assert.equal('preview' in json, false);
  assert.equal('mountpoint' in json, false);
  assert.equal('bad' in json, false, 'invalid UTF-8 is left out');
  assert.equal(json.title, 'Canción 🐢 我的画');
  assert.equal(json.timestamp, '1375027455');
  assert.ok(Object.values(json).every((v) => typeof v === 'string'));
  assert.ok(zip[1].data.equals(data));
  assert.ok(zip[2].data.equals(PNG));
  assert.equal(zip[1].method, 0, 'a PNG is stored, not deflated');
});

test('xoj zip: base64 preview is decoded, missing or empty preview gives an empty member', async () => {
  const b64 = readZip(
    await collect(
      xojZip({ uid: UID, metadata: meta({ preview: PNG.toString('base64') }), data: Buffer.alloc(0) }).outputStream,
    ),
  );
  assert.ok(b64[2].data.equals(PNG));
  assert.equal(b64[1].data.length, 0);
  const none = meta();
  delete none.preview;
  for (const m of [none, meta({ preview: Buffer.alloc(0) })]) {
    const z = readZip(await collect(xojZip({ uid: UID, metadata: m, data: Buffer.from('x') }).outputStream));
    assert.deepEqual(
      z.map((x) => x.name),
      NAMES,
    );
    assert.equal(z[2].data.length, 0);
  }
});

test('xoj zip: data from a file path and from a stream; unzip agrees', async () => {
  const dir = tempDir('xoj');
  try {
    const body = Buffer.from('hola '.repeat(5000));
    fs.writeFileSync(`${dir}/data`, body);
    const fromPath = await collect(
      xojZip({ uid: UID, metadata: meta({ mime_type: 'text/plain' }), data: `${dir}/data` }).outputStream,
    );
    const fromStream = await collect(
      xojZip({ uid: UID, metadata: meta({ mime_type: 'text/plain' }), data: Readable.from([body]) }).outputStream,
    );
    for (const z of [readZip(fromPath), readZip(fromStream)]) {
      assert.ok(z[1].data.equals(body));
      assert.equal(z[1].method, 8, 'text is deflated');
    }
    fs.writeFileSync(`${dir}/e.xoj`, fromPath);
    if (fs.existsSync('/usr/bin/unzip')) {
      execFileSync('/usr/bin/unzip', ['-tq', `${dir}/e.xoj`]);
      assert.deepEqual(
        execFileSync('/usr/bin/unzip', ['-Z1', `${dir}/e.xoj`], { encoding: 'utf8' })
          .trim()
          .split('\n'),
        NAMES,
      );
    }
  } finally {
    removeDir(dir);
  }
});

test('xoj zip: a malformed uid is refused', () => {
  assert.throws(() => xojZip({ uid: '../etc', metadata: meta(), data: Buffer.alloc(0) }), /not a Journal uid/);
  assert.throws(
    () => xojZip({ uid: `.${UID.slice(1)}`, metadata: meta(), data: Buffer.alloc(0) }),
    /not a Journal uid/,
  );
});

test('every generated entry with data makes a valid bundle', async () => {
  const dir = tempDir('xoj-gen');
  try {
    generateJournal(dir, { seed: 'bundles', entries: 16 });
    for (const e of readJournal(dir)) {
      assert.equal(canBundle(e.dataPath !== null), e.dataPath !== null);
      if (!e.dataPath) continue;
      const z = readZip(await collect(xojZip({ uid: e.uid, metadata: e.metadata, data: e.dataPath }).outputStream));
      assert.deepEqual(
        z.map((m) => m.name),
        [`${e.uid}/_metadata.json`, `${e.uid}/${e.uid}`, `${e.uid}/preview/${e.uid}`],
      );
      const json = JSON.parse(z[0].data.toString('utf8')) as Record<string, string>;
      assert.deepEqual(json, xojMetadata(e.metadata));
      assert.equal(json.title, e.info.title);
      assert.ok(z[1].data.equals(fs.readFileSync(e.dataPath)));
    }
  } finally {
    removeDir(dir);
  }
});

test('dataFileName: sanitized title plus the extension of the MIME type', () => {
  assert.equal(dataFileName('Mi dibujo', 'image/png', UID), 'Mi dibujo.png');
  assert.equal(dataFileName('foto.JPG', 'image/jpeg', UID), 'foto.JPG');
  assert.equal(dataFileName('foto.jpeg', 'image/jpeg', UID), 'foto.jpeg');
  assert.equal(dataFileName('Tarea 3/4: fracciones', 'application/pdf', UID), 'Tarea 3-4: fracciones.pdf');
  assert.equal(dataFileName('a\\b\u0000c\nd', 'text/plain; charset=utf-8', UID), 'a-b c d.txt');
  assert.equal(dataFileName('  espacios  ', 'application/x-turtle-art', UID), 'espacios.ta');
  assert.equal(dataFileName('', 'video/ogg', UID), `${UID}.ogv`);
  assert.equal(dataFileName(' \u0001 ', '', UID), UID);
  assert.equal(dataFileName('...hidden', 'text/html', UID), 'hidden.html');
  assert.equal(dataFileName('Física', 'application/x-physics-activity', UID), 'Física');
  assert.equal(dataFileName('.pdf', 'application/pdf', UID), 'pdf.pdf');
  const long = dataFileName('🐢'.repeat(150), 'audio/ogg', UID);
  assert.equal(Array.from(long).length, 104);
  assert.ok(long.endsWith('🐢.ogg'));
});

test('xojFileName, extensionFor, canBundle, XOJ_MIME', () => {
  assert.equal(xojFileName('Mi perro 🐶', UID), 'Mi perro 🐶.xoj');
  assert.equal(xojFileName('a/b', UID), 'a-b.xoj');
  assert.equal(xojFileName('', UID), `${UID}.xoj`);
  assert.equal(xojFileName('copia.XOJ', UID), 'copia.XOJ');
  assert.equal(extensionFor('Application/PDF'), '.pdf');
  assert.equal(extensionFor('application/x-unknown'), '');
  assert.equal(canBundle(false), false);
  assert.equal(XOJ_MIME, 'application/vnd.olpc-journal-entry');
});
