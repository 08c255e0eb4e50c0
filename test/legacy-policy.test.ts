/**
 * The pure decisions of the legacy path: which SSH commands an old laptop's
 * key may run, which completion flags count, XML-RPC parsing, public key
 * normalization and re-registration.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync, type Stats } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { confinedRead } from '../src/server/legacy/folder-ingest.js';
import type { Store } from '../src/server/store/store.js';
import { judgeCommand } from '../src/server/legacy/command-policy.js';
import { judgeFlag } from '../src/server/legacy/completion.js';
import { normalizePubkey, reRegistration } from '../src/server/legacy/registration.js';
import { faultResponse, parseCall, structResponse } from '../src/server/legacy/xmlrpc.js';

const ctx = { serial: 'SHF7000500', home: '/library/users/SHF7000500', completionDir: '/var/lib/ds-backup/completion' };
const ED = 'AAAAC3NzaC1lZDI1NTE5AAAAIFjjV3ZAdbrkrxP0Vmw6nYc8Yl7zZ4vMJ6uMO5qp7mqX';

describe('forced command policy', () => {
  test('accepts exactly what the 2008 client sends', () => {
    const a = judgeCommand('rsync --server -ltrze.iLsfxCIvu --timeout=160 --delete --partial . datastore-current', ctx);
    assert.ok(a.ok);
    assert.deepEqual(a.argv, [
      '--server',
      '-ltrze.iLsfxCIvu',
      '--timeout=160',
      '--delete',
      '--partial',
      '.',
      '/library/users/SHF7000500/datastore-current',
    ]);
    for (const d of ['documents', 'power-logs', 'datastore-current/'])
      assert.ok(judgeCommand(`rsync --server -ltrz --delete --partial . ${d}`, ctx).ok, d);
    const f = judgeCommand(
      'rsync --server -e.LsfxCIvu --temp-dir /tmp . /var/lib/ds-backup/completion/SHF7000500',
      ctx,
    );
    assert.ok(f.ok);
    assert.equal(f.kind, 'flag');
  });

  test('refuses shells, senders, other paths, other options and other serials', () => {
    for (const c of [
      '',
      'whoami',
      'sh -c id',
      'rsync --server --sender -ltrz . datastore-current',
      'rsync --server -ltrz . /etc',
      'rsync --server -ltrz . ../',
      'rsync --server -ltrz . datastore-current/../..',
      'rsync --server -ltrz . .ssh',
      'rsync --server -ltrz --log-file=/tmp/x . datastore-current',
      'rsync --server -ltrzs . datastore-current',
      'rsync --server -ltrz . datastore-current; id',
      'rsync --server -ltrz . datastore-current documents',
      'rsync --server -e.Ls --temp-dir /tmp . /var/lib/ds-backup/completion/SHF7000501',
      'rsync --server -e.Ls --delete . /var/lib/ds-backup/completion/SHF7000500',
      'rsync --server -ltrz --temp-dir /tmp . datastore-current',
      'rsync --server -ltrz --temp-dir /etc . /var/lib/ds-backup/completion/SHF7000500',
      'rsync --server -ltrz --remove-source-files . datastore-current',
      '/usr/bin/rsync --server -ltrz . datastore-current',
    ])
      assert.equal(judgeCommand(c, ctx).ok, false, c);
  });
});

describe('completion flags', () => {
  const st = (o: Partial<{ file: boolean; uid: number; mtimeMs: number }>) =>
    ({ isFile: () => o.file ?? true, uid: o.uid ?? 1001, mtimeMs: o.mtimeMs ?? 0 }) as unknown as Stats;
  const accounts = { SHF7000500: { user: 'SHF7000500', uid: 1001, gid: 1001, home: '/x' } };
  const known = (sn: string) => sn === 'SHF7000500';
  test('a regular file named after a registered serial and owned by its account', () => {
    assert.ok(judgeFlag('SHF7000500', st({}), accounts, known, 0).ok);
  });
  test('anything else is refused (temp files are kept for a while)', () => {
    assert.equal(judgeFlag('SHF7000500', st({ uid: 0 }), accounts, known, 0).ok, false);
    assert.equal(judgeFlag('SHF7000500', st({ file: false }), accounts, known, 0).ok, false);
    assert.equal(judgeFlag('SHF7000501', st({}), accounts, known, 0).ok, false);
    assert.equal(judgeFlag('a b', st({}), accounts, known, 0).ok, false);
    const tmpFlag = judgeFlag('.SHF7000500.Xy12', st({ mtimeMs: 0 }), accounts, known, 1000);
    assert.ok(!tmpFlag.ok && tmpFlag.keep);
    const stale = judgeFlag('.SHF7000500.Xy12', st({ mtimeMs: 0 }), accounts, known, 2 * 3600_000);
    assert.ok(!stale.ok && !stale.keep);
  });
});

describe('XML-RPC and registration', () => {
  test("parses Sugar's call with typed and bare string values", () => {
    const c = parseCall(`<?xml version='1.0'?><methodCall><methodName>register</methodName><params>
      <param><value><string>SHF7000500</string></value></param><param><value>Ana &amp; Bo</value></param>
      <param><value><string></string></value></param><param><value><string>${ED}</string></value></param></params></methodCall>`);
    assert.deepEqual(c, { method: 'register', params: ['SHF7000500', 'Ana & Bo', '', ED] });
    assert.throws(
      () =>
        parseCall(
          '<methodCall><methodName>x</methodName><params><param><value><array><data/></array></value></param></params></methodCall>',
        ),
      /not a string/,
    );
    assert.throws(() => parseCall('<methodCall><methodName>x'), /well-formed/);
    assert.match(structResponse({ error: '<&>' }), /&lt;&amp;&gt;/);
    assert.match(faultResponse(-32700, 'x'), /<int>-32700<\/int>/);
  });

  test('public keys: bare blob or OpenSSH line give the same normalized key', () => {
    assert.equal(normalizePubkey(ED), `ssh-ed25519 ${ED}`);
    assert.equal(normalizePubkey(`ssh-ed25519 ${ED} olpc@xo`), `ssh-ed25519 ${ED}`);
    assert.throws(() => normalizePubkey('ssh-rsa ' + ED), /does not match/);
    assert.throws(() => normalizePubkey('not a key'), /public key/);
    assert.throws(() => normalizePubkey('AAAA$(id)'), /public key/);
    // Whatever comes in, what reaches authorized_keys is one "<type> <base64>" line.
    assert.equal(normalizePubkey(`ssh-ed25519 ${ED}\ncommand="sh" ssh-ed25519 ${ED}`), `ssh-ed25519 ${ED}`);
  });

  test('re-registration: same key or legacy-only laptop accepted, native laptop protected', () => {
    const k = `ssh-ed25519 ${ED}`;
    assert.ok(reRegistration({ pubkey: k, tokenHash: 'aa', disabled: false }, k).accept);
    assert.ok(reRegistration({ pubkey: null, tokenHash: null, disabled: false }, k).accept);
    const reinstall = reRegistration({ pubkey: 'ssh-dss AAAA', tokenHash: null, disabled: false }, k);
    assert.ok(reinstall.accept && reinstall.keyChange);
    assert.equal(reRegistration({ pubkey: 'ssh-dss AAAA', tokenHash: 'aa', disabled: false }, k).accept, false);
    assert.equal(reRegistration({ pubkey: null, tokenHash: 'aa', disabled: false }, k).accept, false);
    assert.equal(reRegistration({ pubkey: k, tokenHash: null, disabled: true }, k).accept, false);
  });
});

describe('confined reads of a laptop folder', () => {
  test('a path redirected outside the folder through a swapped directory is refused', () => {
    const base = mkdtempSync(join(tmpdir(), 'dsb-confine-'));
    try {
      const inside = join(base, 'datastore-current');
      const outside = join(base, 'secret');
      mkdirSync(inside);
      mkdirSync(outside);
      writeFileSync(join(outside, 'shadow'), 'root:x');
      mkdirSync(join(inside, 'ok'));
      writeFileSync(join(inside, 'ok', 'f'), 'hello');
      const store = {} as Store;
      const h = (s: string) => createHash('sha256').update(s).digest('hex');
      assert.equal(confinedRead(store, join(inside, 'ok', 'f'), inside, h('hello'), { copy: false }), null);
      // The folder "ab" was listed as a directory, then swapped for a link to a folder outside.
      symlinkSync(outside, join(inside, 'ab'));
      assert.throws(
        () => confinedRead(store, join(inside, 'ab', 'shadow'), inside, h('root:x'), { copy: false }),
        /outside/,
      );
      symlinkSync(join(outside, 'shadow'), join(inside, 'link'));
      assert.throws(
        () => confinedRead(store, join(inside, 'link'), inside, h('root:x'), { copy: false }),
        /cannot open/,
      );
      assert.throws(() => confinedRead(store, join(inside, 'ok', 'f'), inside, h('other'), { copy: false }), /changed/);
    } finally {
      rmSync(base, { recursive: true, force: true });
    }
  });
});
