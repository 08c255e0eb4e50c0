/**
 * Legacy OLPC clients, end to end with real components: Sugar's XML-RPC
 * registration through Python's own xmlrpc.client, `legacy setup` making a
 * real Unix account, a real sshd on a loopback port, the 2008 client's exact
 * rsync commands and completion flag, the server's completion watcher, and
 * a byte-for-byte restore through the native agent. Also: the forced command
 * refuses a shell and paths outside the home; import-legacy of an old
 * server's layout-0 and layout-6 folders, twice.
 *
 * Needs root (useradd, sshd); skipped with a message otherwise.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import {
  chmodSync,
  cpSync,
  existsSync,
  mkdirSync,
  readFileSync,
  readlinkSync,
  readdirSync,
  writeFileSync,
  statSync,
  lstatSync,
  utimesSync,
} from 'node:fs';
import { createServer, connect } from 'node:net';
import { join } from 'node:path';
import {
  agent,
  cleanup,
  fsState,
  JOURNAL_EXCLUDES,
  laptop,
  serverCli,
  startServer,
  tmp,
  type TestServer,
} from './helpers/harness.js';
import { startLegacy, type LegacyServices } from '../src/server/legacy/serve.js';
import { removeLegacyAccounts } from '../src/server/legacy/setup.js';
import { SESSION_MARK } from '../src/server/legacy/command-policy.js';
import { generateJournal } from '../src/journal/gen/generator.js';
import { Store } from '../src/server/store/store.js';

const isRoot = process.getuid?.() === 0;
const SKIP = isRoot ? false : 'needs root (useradd, sshd): run as root, e.g. in .ci/run';

function sh(
  cmd: string,
  args: string[],
  opts: { env?: Record<string, string> } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((res) => {
    execFile(cmd, args, { env: { ...process.env, ...opts.env }, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      res({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => res(port));
    });
    s.on('error', rej);
  });
}

async function waitForPort(port: number): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const ok = await new Promise<boolean>((res) => {
      const c = connect(port, '127.0.0.1');
      c.once('connect', () => {
        c.destroy();
        res(true);
      });
      c.once('error', () => res(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`sshd did not start on port ${port}`);
}

const SN = 'SHF7LEG001';
const OTHER = 'SHF7LEG002';

let srv: TestServer;
let legacy: LegacyServices;
let work: string;
let completion: string;
let sshd: ChildProcess | null = null;
let port = 0;
let key = '';
let otherKey = '';

/** The old client's ssh, as ds-backup 2008 ran it (plus a throwaway known_hosts). */
function sshE(user: string, k = key): string {
  return `ssh -F /dev/null -o PasswordAuthentication=no -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -i ${k} -l ${user} -p ${port}`;
}

function oldRsync(src: string, dest: string, user = SN, k = key) {
  return sh('rsync', [
    '-z',
    '-rlt',
    '--partial',
    '--delete',
    '--timeout=160',
    '-e',
    sshE(user, k),
    src,
    `127.0.0.1:${dest}`,
  ]);
}

function flag(user = SN, serial = SN, k = key) {
  const empty = join(work, 'empty');
  writeFileSync(empty, '');
  return sh('rsync', ['-T', '/tmp', '-e', sshE(user, k), empty, `127.0.0.1:${join(completion, serial)}`]);
}

async function registerXmlRpc(
  url: string,
  serial: string,
  pubFile: string,
  bare = true,
): Promise<Record<string, string>> {
  const py = `import json, sys, xmlrpc.client
key = open(sys.argv[3]).read().split()
print(json.dumps(xmlrpc.client.ServerProxy(sys.argv[1]).register(sys.argv[2], 'Ana', 'uuid-' + sys.argv[2], key[1] if sys.argv[4] == 'bare' else ' '.join(key))))`;
  const r = await sh('python3', ['-c', py, url, serial, pubFile, bare ? 'bare' : 'line']);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as Record<string, string>;
}

describe('legacy XO clients over rsync + ssh', { skip: SKIP }, () => {
  before(async () => {
    work = tmp('legacy');
    chmodSync(work, 0o755);
    completion = join(work, 'completion');
    srv = await startServer({ completionDir: completion, publicHost: 'schoolserver' });
    legacy = await startLegacy(srv);
    for (const [name] of [['owner.key'], ['other.key'], ['host.key']]) {
      const r = await sh('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', name, '-f', join(work, name)]);
      assert.equal(r.code, 0, r.stderr);
    }
    key = join(work, 'owner.key');
    otherKey = join(work, 'other.key');
    port = await freePort();
    const cfg = join(work, 'sshd_config');
    writeFileSync(
      cfg,
      [
        `Port ${port}`,
        'ListenAddress 127.0.0.1',
        `HostKey ${join(work, 'host.key')}`,
        `PidFile ${join(work, 'sshd.pid')}`,
        'UsePAM no',
        'PasswordAuthentication no',
        'KbdInteractiveAuthentication no',
        'PubkeyAuthentication yes',
        'AuthorizedKeysFile .ssh/authorized_keys',
        'StrictModes yes',
        'PermitRootLogin no',
        'LogLevel ERROR',
        '',
      ].join('\n'),
    );
    mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
    sshd = spawn('/usr/sbin/sshd', ['-D', '-e', '-f', cfg], { stdio: ['ignore', 'ignore', 'pipe'] });
    sshd.stderr!.on('data', (d: Buffer) => process.env.DSB_DEBUG && process.stderr.write(`sshd: ${d}`));
    await waitForPort(port);
  });

  after(async () => {
    sshd?.kill('SIGTERM');
    await legacy?.close();
    await srv?.close();
    if (srv) removeLegacyAccounts(srv.root);
    if (srv) cleanup(srv.root);
    if (work) cleanup(work);
  });

  test('Sugar registers over XML-RPC, backs up with the 2008 rsync commands, and the native agent restores it byte for byte', async () => {
    // Registration, as Sugar's "Register" menu does it (bare base64 key since Sugar 0.84).
    const reply = await registerXmlRpc(srv.url, SN, `${key}.pub`);
    assert.deepEqual(reply, { success: 'OK', error: '', jabberserver: '', backupurl: `${SN}@schoolserver:backup` });
    const rec = JSON.parse(readFileSync(join(srv.root, 'users', SN, 'device.json'), 'utf8')) as {
      pubkey: string;
      tokenHash: string | null;
    };
    assert.equal(rec.pubkey, readFileSync(`${key}.pub`, 'utf8').split(' ').slice(0, 2).join(' '));
    assert.equal(rec.tokenHash, null, 'a legacy laptop gets no native token');
    // Re-registration with the same key (Sugar re-registers) is accepted.
    assert.equal((await registerXmlRpc(srv.url, SN, `${key}.pub`, false)).success, 'OK');
    await registerXmlRpc(srv.url, OTHER, `${otherKey}.pub`);

    const setup = await serverCli(['legacy', 'setup', '--root', srv.root, '--completion-dir', completion]);
    assert.equal(setup.code, 0, setup.stderr);
    assert.equal(setup.stdout.trim(), completion);
    assert.equal(statSync(completion).mode & 0o7777, 0o1733);
    const again = await serverCli(['legacy', 'setup', '--root', srv.root, '--completion-dir', completion, '--json']);
    assert.equal(again.code, 0, again.stderr);
    assert.ok(
      (JSON.parse(again.stdout) as { accounts: Array<{ created: boolean }> }).accounts.every((a) => !a.created),
      'setup is idempotent',
    );

    // Traffic control: the same admission as native clients.
    const avail = await fetch(`${srv.url}/backup/1/available/${SN}`);
    assert.equal(avail.status, 200);
    assert.equal(srv.ctx.admission.active().filter((l) => l.serial === SN).length, 1, 'legacy lease held');
    assert.equal((await fetch(`${srv.url}/backup/1/available/NOSUCH0001`)).status, 403);
    assert.equal((await fetch(`${srv.url}/backup/1/available/..%2Fetc`)).status, 403);

    const { profile, summary } = laptop({ seed: SN, entries: 25, documents: true });
    const markPath = join(srv.root, 'users', SN, SESSION_MARK);
    utimesSync(markPath, 0, 0); // made by setup; the session must touch it
    const r1 = await oldRsync(`${profile}/datastore/`, 'datastore-current');
    assert.equal(r1.code, 0, r1.stderr);
    // the forced shell marks the session start, which keeps the laptop's slot (routes.ts reads it)
    assert.ok(statSync(markPath).mtimeMs > 0, 'the legacy shell touched the session mark');
    const rd = await oldRsync(`${profile}/Documents/`, 'documents');
    assert.equal(rd.code, 0, rd.stderr);
    const f = await flag();
    assert.equal(f.code, 0, f.stderr);
    await legacy.watcher.kick();
    const done = legacy.watcher.processed.find((p) => p.serial === SN);
    assert.ok(done, 'flag processed');
    assert.equal(done.error, undefined);
    assert.deepEqual(readdirSync(completion), [], 'flag removed');
    assert.equal(srv.ctx.admission.active().filter((l) => l.serial === SN).length, 0, 'legacy lease released');

    const user = join(srv.root, 'users', SN);
    assert.deepEqual(
      done.snapshots.map((n) => n.split('-')[0]).sort(),
      ['datastore', 'documents'],
      'empty power-logs is not snapshotted',
    );
    const name = done.snapshots.find((n) => n.startsWith('datastore-'))!;
    assert.match(name, /^datastore-\d{4}-\d{2}-\d{2}_\d{2}:\d{2}$/);
    assert.ok(existsSync(join(user, name, 'snapshot.json')));
    assert.equal(readlinkSync(join(user, 'datastore-latest')), name);
    const entries = srv.ctx.store.db
      .prepare(
        'SELECT uid, title FROM entries e JOIN accounts a ON a.id = e.account_id WHERE a.key = ? AND last_seq IS NULL',
      )
      .all(SN) as Array<{ uid: string; title: string }>;
    assert.equal(entries.length, summary.entries.length, 'every Journal entry is in the catalog');
    assert.deepEqual(new Set(entries.map((e) => e.uid)), new Set(summary.entries.map((e) => e.uid)));

    // Stored blobs are copies, not links to the laptop account's files.
    const anyFile = readdirSync(join(user, 'datastore-current')).find((n) => n.length === 2)!;
    const entryDir = join(
      user,
      'datastore-current',
      anyFile,
      readdirSync(join(user, 'datastore-current', anyFile))[0],
      'metadata',
    );
    assert.equal(lstatSync(join(entryDir, 'title')).nlink, 1, 'no hard link into the pool');

    // Restore through the native agent with an admin-issued token.
    const tok = await serverCli(['device', 'token', SN, '--root', srv.root, '--json']);
    assert.equal(tok.code, 0, tok.stderr);
    const restoreProfile = tmp('xo-restore');
    mkdirSync(join(restoreProfile, 'ds-backup'), { recursive: true });
    writeFileSync(
      join(restoreProfile, 'ds-backup', 'config.json'),
      JSON.stringify({
        server: srv.url,
        serial: SN,
        nickname: 'Ana',
        token: (JSON.parse(tok.stdout) as { token: string }).token,
      }),
      { mode: 0o600 },
    );
    const out = tmp('out');
    const rr = await agent(['restore', '--profile', restoreProfile, '--all', '--to', out]);
    assert.equal(rr.code, 0, rr.stderr);
    for (const [from, to, skip] of [
      ['datastore', 'datastore', JOURNAL_EXCLUDES],
      ['Documents', 'documents', []],
    ] as const) {
      const want = fsState(join(profile, from), [...skip]);
      const got = fsState(join(out, to));
      assert.deepEqual([...got.keys()].sort(), [...want.keys()].sort(), `same paths in ${to}`);
      for (const [k, v] of want) {
        assert.equal(got.get(k), v, `same bytes, mode and mtime: ${to}/${k}`);
      }
    }

    // A second run with one changed file: new snapshot, unchanged files not re-hashed.
    writeFileSync(join(entryDir, 'title'), 'changed title');
    const r2 = await oldRsync(`${profile}/datastore/`, 'datastore-current');
    assert.equal(r2.code, 0, r2.stderr);
    assert.equal((await flag()).code, 0);
    await legacy.watcher.kick();
    const second = legacy.watcher.processed.filter((p) => p.serial === SN);
    assert.equal(second.length, 2);
    assert.equal(second[1].error, undefined);
    assert.ok(!second[1].snapshots.includes(name));

    // A flag that arrives while the server is down is picked up at start.
    await legacy.close();
    writeFileSync(join(entryDir, 'title'), 'changed while the server was down');
    assert.equal((await oldRsync(`${profile}/datastore/`, 'datastore-current')).code, 0);
    assert.equal((await flag()).code, 0);
    assert.deepEqual(readdirSync(completion), [SN]);
    legacy = await startLegacy(srv);
    await legacy.watcher.kick();
    assert.equal(legacy.watcher.processed.length, 1);
    assert.equal(legacy.watcher.processed[0].error, undefined);
    assert.deepEqual(readdirSync(completion), []);

    // A flag not owned by the laptop's account (here root's) is removed, not ingested.
    writeFileSync(join(completion, SN), '');
    await legacy.watcher.kick();
    assert.equal(legacy.watcher.processed.length, 1, 'forged flag ignored');
    assert.deepEqual(readdirSync(completion), []);
    cleanup(profile, restoreProfile, out);
  });

  test("the forced command refuses a shell, other programs, other paths and another laptop's flag", async () => {
    const shell = await sh('ssh', [...sshE(SN).split(' ').slice(1), '127.0.0.1', 'whoami']);
    assert.notEqual(shell.code, 0);
    assert.ok(!shell.stdout.includes(SN), 'whoami did not run');
    assert.match(shell.stderr, /only rsync is allowed/);
    const login = await sh('ssh', [...sshE(SN).split(' ').slice(1), '-T', '127.0.0.1']);
    assert.notEqual(login.code, 0, 'no interactive shell');

    const src = tmp('evil');
    writeFileSync(join(src, 'pwned'), 'x');
    for (const dest of [
      '/etc/dsb-legacy-test',
      '../',
      '../../',
      'datastore-current/../..',
      '/tmp/dsb-legacy-test',
      `${completion}/${OTHER}`,
      '.ssh',
    ]) {
      const r = await oldRsync(`${src}/`, dest);
      assert.notEqual(r.code, 0, `rsync to ${dest} must be refused`);
    }
    assert.ok(!existsSync('/etc/dsb-legacy-test/pwned') && !existsSync('/tmp/dsb-legacy-test'));
    assert.ok(!existsSync(join(srv.root, 'users', 'pwned')));
    assert.deepEqual(readdirSync(completion), []);
    // Reading back (rsync as sender) is refused too.
    const pull = await sh('rsync', ['-rlt', '-e', sshE(SN), '127.0.0.1:datastore-current/', join(src, 'pulled')]);
    assert.notEqual(pull.code, 0);
    // Another laptop's key cannot log in as this one.
    const wrong = await oldRsync(`${src}/`, 'datastore-current', SN, otherKey);
    assert.notEqual(wrong.code, 0);
    cleanup(src);
  });

  test('XML-RPC: malformed calls get a fault, a native laptop cannot be taken over, the registration port works alone', async () => {
    const post = (body: string) =>
      fetch(`${srv.url}/`, { method: 'POST', headers: { 'content-type': 'text/xml' }, body }).then(async (r) => ({
        status: r.status,
        text: await r.text(),
      }));
    for (const body of [
      'not xml',
      '<methodCall><methodName>register</methodName></methodCall>',
      '<!DOCTYPE x [<!ENTITY a "b">]><methodCall/>',
      '<methodCall><methodName>shutdown</methodName><params/></methodCall>',
    ]) {
      const r = await post(body);
      assert.equal(r.status, 200);
      assert.match(r.text, /<fault>/, body);
    }
    // A laptop registered natively keeps its serial against a legacy call with another key.
    const reg = await fetch(`${srv.url}/api/v1/devices`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ serial: 'SHF7NAT001' }),
    });
    assert.equal(reg.status, 201);
    const refused = await registerXmlRpc(srv.url, 'SHF7NAT001', `${otherKey}.pub`);
    assert.equal(refused.success, 'ERR');
    assert.match(refused.error, /administrator/);
    // A reinstalled XO (new key, never native) is accepted, as in 2008.
    assert.equal((await registerXmlRpc(srv.url, OTHER, `${key}.pub`)).success, 'OK');

    const regPort = await freePort();
    const s2 = await startServer({ legacyRegistrationPort: regPort, legacyAutoSetup: true, completionDir: completion });
    const l2 = await startLegacy(s2, { host: '127.0.0.1' });
    try {
      const r = await registerXmlRpc(`http://127.0.0.1:${regPort}/`, 'SHF7REG001', `${key}.pub`);
      assert.equal(r.success, 'OK');
      assert.equal(r.backupurl, 'SHF7REG001@127.0.0.1:backup');
      assert.equal(
        (await fetch(`http://127.0.0.1:${regPort}/api/v1/ping`)).status,
        404,
        'only registration on that port',
      );
      // --legacy-auto-setup: the account exists right after registration.
      assert.equal((await sh('getent', ['passwd', 'SHF7REG001'])).code, 0);
      assert.match(
        readFileSync(join(s2.root, 'users', 'SHF7REG001', '.ssh', 'authorized_keys'), 'utf8'),
        /^restrict,command="ds-backup-legacy SHF7REG001" ssh-ed25519 /,
      );
    } finally {
      await l2.close();
      await s2.close();
      removeLegacyAccounts(s2.root);
      cleanup(s2.root);
    }
  });

  test('503 when every slot is taken, shared with native clients', async () => {
    const s = await startServer({ maxConcurrent: 1 });
    try {
      await registerXmlRpc(s.url, 'SHF7BUSY01', `${key}.pub`);
      await registerXmlRpc(s.url, 'SHF7BUSY02', `${otherKey}.pub`);
      assert.equal((await fetch(`${s.url}/backup/1/available/SHF7BUSY01`)).status, 200);
      const busy = await fetch(`${s.url}/backup/1/available/SHF7BUSY02`);
      assert.equal(busy.status, 503);
      assert.ok(busy.headers.get('retry-after'));
      assert.equal(
        (await fetch(`${s.url}/backup/1/available/SHF7BUSY01`)).status,
        200,
        'asking again replaces its own lease',
      );
    } finally {
      await s.close();
      cleanup(s.root);
    }
  });
});

describe('import-legacy', () => {
  test('layout-0 and layout-6 dated folders become snapshots with their dates; a second run adds nothing', async () => {
    const old = tmp('old-users');
    const a = join(old, 'SHC31100365');
    const b = join(old, 'SHF82300C5D');
    // Layout 6, three hard-linked daily copies (cp -al) with one change between them.
    generateJournal(join(a, 'datastore-2013-07-26_10:00'), { seed: 'imp6', entries: 12 });
    cpSync(join(a, 'datastore-2013-07-26_10:00'), join(a, 'datastore-2013-07-27_10:05'), {
      recursive: true,
      preserveTimestamps: true,
    });
    writeFileSync(join(a, 'datastore-2013-07-27_10:05', 'extra-note'), 'changed the next day');
    await sh('cp', ['-al', join(a, 'datastore-2013-07-27_10:05'), join(a, 'datastore-2013-07-28_16:04')]);
    await sh('ln', ['-s', 'datastore-2013-07-28_16:04', join(a, 'datastore-latest')]);
    // Layout 0 (2008).
    generateJournal(join(b, 'datastore-2008-11-03_08:15'), { seed: 'imp0', entries: 6, layout: 0 });
    mkdirSync(join(old, 'lost+found'));

    const root = tmp('imp-root');
    const r1 = await serverCli(['import-legacy', old, '--root', root, '--json']);
    assert.equal(r1.code, 0, r1.stderr);
    const j1 = JSON.parse(r1.stdout) as {
      imported: number;
      skipped: number;
      serials: number;
      devicesCreated: number;
      copiedBlobs: number;
    };
    assert.equal(j1.imported, 4);
    assert.equal(j1.serials, 2);
    assert.equal(j1.devicesCreated, 2);
    assert.deepEqual(
      readdirSync(join(root, 'users', 'SHC31100365'))
        .filter((n) => n.startsWith('datastore-2'))
        .sort(),
      ['datastore-2013-07-26_10:00', 'datastore-2013-07-27_10:05', 'datastore-2013-07-28_16:04'],
    );
    assert.equal(readlinkSync(join(root, 'users', 'SHC31100365', 'datastore-latest')), 'datastore-2013-07-28_16:04');
    const snap = JSON.parse(
      readFileSync(join(root, 'users', 'SHC31100365', 'datastore-2013-07-27_10:05', 'snapshot.json'), 'utf8'),
    ) as { createdAt: number };
    assert.equal(snap.createdAt, Date.UTC(2013, 6, 27, 10, 5));
    const poolFiles = () => countFiles(join(root, 'pool'));
    const blobs = poolFiles();

    const r2 = await serverCli(['import-legacy', old, '--root', root, '--json']);
    assert.equal(r2.code, 0, r2.stderr);
    const j2 = JSON.parse(r2.stdout) as {
      imported: number;
      skipped: number;
      devicesCreated: number;
      copiedBlobs: number;
    };
    assert.deepEqual([j2.imported, j2.skipped, j2.devicesCreated, j2.copiedBlobs], [0, 4, 0, 0]);
    assert.equal(poolFiles(), blobs, 'nothing doubles in the pool');

    // An older folder found later: imported, sequence numbers rebuilt in date order, -latest unchanged.
    await sh('cp', ['-al', join(a, 'datastore-2013-07-26_10:00'), join(a, 'datastore-2013-07-20_09:00')]);
    const r3 = await serverCli(['import-legacy', old, '--root', root, '--json']);
    assert.equal(r3.code, 0, r3.stderr);
    const j3 = JSON.parse(r3.stdout) as { imported: number; reindexed: boolean };
    assert.deepEqual([j3.imported, j3.reindexed], [1, true]);
    assert.equal(readlinkSync(join(root, 'users', 'SHC31100365', 'datastore-latest')), 'datastore-2013-07-28_16:04');

    const st = new Store(root);
    try {
      const rows = st.db.prepare('SELECT serial, name, seq FROM snapshots ORDER BY serial, seq').all() as Array<{
        serial: string;
        name: string;
        seq: number;
      }>;
      assert.equal(rows.length, 5, 'nothing doubles in the catalog');
      assert.deepEqual(
        rows.filter((x) => x.serial === 'SHC31100365').map((x) => x.name.slice(10)),
        ['2013-07-20_09:00', '2013-07-26_10:00', '2013-07-27_10:05', '2013-07-28_16:04'],
      );
      assert.deepEqual(
        rows.filter((x) => x.serial === 'SHC31100365').map((x) => x.seq),
        [1, 2, 3, 4],
      );
      const e0 = st.db
        .prepare(
          `SELECT count(*) AS n, min(layout) AS l FROM entries e JOIN accounts a ON a.id = e.account_id WHERE a.key = 'SHF82300C5D'`,
        )
        .get() as { n: number; l: number };
      assert.equal(e0.n, 6, 'layout-0 entries indexed');
      assert.equal(e0.l, 0);
      const e6 = st.db
        .prepare(
          `SELECT count(DISTINCT uid) AS n FROM entries e JOIN accounts a ON a.id = e.account_id WHERE a.key = 'SHC31100365'`,
        )
        .get() as { n: number };
      assert.equal(e6.n, 12);
    } finally {
      st.close();
    }
    cleanup(old, root);
  });
});

function countFiles(dir: string): number {
  let n = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) n += e.isDirectory() ? countFiles(join(dir, e.name)) : 1;
  return n;
}
