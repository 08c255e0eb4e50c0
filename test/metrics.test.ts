/**
 * GET /metrics, judged by the real thing: the token rules, `promtool check
 * metrics` on a scrape, the figures after a real backup, an abort and a
 * cleanup run, a real Prometheus (loopback port, temp config and data) that
 * scrapes the server and answers a query for backups completed, and
 * `promtool check rules` on the sample alerting rules. A test is skipped
 * (with the reason) only when the Prometheus binaries are not installed.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { installed, runClient } from './helpers/clients.js';
import {
  backupJson,
  cleanup,
  REPO,
  registered,
  serverCli,
  startServer,
  tmp,
  token,
  type TestServer,
} from './helpers/harness.js';

const SN = 'SHF7000980';
const METRICS_TOKEN = 'metrics-token-for-tests-0123456789';
const RULES = join(REPO, 'deploy', 'prometheus', 'ds-backup-alerts.yml');
let srv: TestServer;
let profile: string;
let adminToken: string;
const scratch = tmp('metrics');

const scrape = async (t = METRICS_TOKEN) => fetch(`${srv.url}/metrics`, { headers: { Authorization: `Bearer ${t}` } });

/** name{labels} → value, from the text format. */
function samples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    out.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return out;
}

before(async () => {
  srv = await startServer({ metricsToken: METRICS_TOKEN });
  profile = (await registered(srv.url, SN, { entries: 20 })).profile;
  await backupJson(profile);
  adminToken = srv.ctx.store.admin.newToken();
  // An aborted backup: a lease taken and given back.
  const auth = { Authorization: `Bearer ${token(profile)}` };
  const lease = (await (await fetch(`${srv.url}/api/v1/backups`, { method: 'POST', headers: auth })).json()) as {
    lease: string;
  };
  assert.equal(
    (await fetch(`${srv.url}/api/v1/backups/${lease.lease}`, { method: 'DELETE', headers: auth })).status,
    204,
  );
});
after(async () => {
  await srv.close();
  cleanup(srv.root, profile, scratch);
});

test('GET /metrics needs the metrics token or an admin token', async () => {
  assert.equal((await fetch(`${srv.url}/metrics`)).status, 401);
  assert.equal((await scrape('wrong')).status, 401);
  assert.equal((await scrape(token(profile))).status, 401, 'a laptop token is not enough');
  assert.equal((await scrape()).status, 200);
  const r = await scrape(adminToken);
  assert.equal(r.status, 200);
  assert.match(r.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
});

test('the figures after a backup, an abort and a cleanup run', async () => {
  const before = samples(await (await scrape()).text());
  assert.equal(before.get('ds_backup_backups_started_total'), 2);
  assert.equal(before.get('ds_backup_backups_completed_total'), 1);
  assert.equal(before.get('ds_backup_backups_failed_total{reason="aborted"}'), 1);
  assert.equal(before.get('ds_backup_admission_decisions_total{outcome="granted"}'), 2);
  assert.equal(before.get('ds_backup_admission_latency_seconds_count'), 2);
  assert.equal(before.get('ds_backup_lease_duration_seconds_count{end="released"}'), 2);
  assert.ok(before.get('ds_backup_received_bytes_total')! > 10_000, 'the backup’s bodies were counted');
  assert.equal(before.get('ds_backup_laptops{status="ok"}'), 1);
  assert.ok(before.get(`ds_backup_laptop_last_backup_timestamp_seconds{serial="${SN}"}`)! > Date.now() / 1000 - 600);
  assert.ok(before.get('ds_backup_pool_objects')! > 10 && before.get('ds_backup_pool_bytes')! > 1000);
  assert.ok(before.get('ds_backup_disk_used_ratio')! > 0 && before.get('ds_backup_disk_used_ratio')! < 1);
  assert.equal(before.get('ds_backup_cleanup_last_success_timestamp_seconds'), 0, '0 = never ran');
  const c = await serverCli(['cleanup', '--root', srv.root, '--force', '--json']);
  assert.equal(c.code, 0, c.stderr);
  const after = samples(await (await scrape()).text());
  assert.ok(after.get('ds_backup_cleanup_last_success_timestamp_seconds')! > Date.now() / 1000 - 600);
  assert.equal(after.get('ds_backup_cleanup_runs_total'), 1);
  assert.equal(after.get('ds_backup_verify_damaged_objects'), 0);
});

test(
  'promtool check metrics passes on a scrape',
  { skip: !installed('promtool') && 'promtool is not installed (apt-get install prometheus)' },
  async () => {
    const text = await (await scrape()).text();
    const r = await runClient('promtool', ['check', 'metrics'], { input: text });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    const names = [...text.matchAll(/^# TYPE (ds_backup_\S+) (\S+)/gm)].map((m) => `${m[1]} (${m[2]})`);
    console.log(`metrics: ${names.join(', ')}`);
    assert.ok(names.length >= 25);
  },
);

test(
  'promtool check rules and test rules pass on deploy/prometheus/ds-backup-alerts.yml',
  { skip: !installed('promtool') && 'promtool is not installed (apt-get install prometheus)' },
  async () => {
    const r = await runClient('promtool', ['check', 'rules', RULES]);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /SUCCESS: 5 rules found/);
    // And the alerts fire when they should (unit tests with made-up series).
    const u = await runClient('promtool', ['test', 'rules', RULES.replace(/\.yml$/, '.test.yml')]);
    assert.equal(u.status, 0, u.stdout + u.stderr);
  },
);

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

test(
  'a real Prometheus scrapes the server and answers a query for backups completed',
  { skip: !installed('prometheus') && 'prometheus is not installed (apt-get install prometheus)' },
  async () => {
    const port = await freePort();
    const target = new URL(srv.url).host;
    const config = join(scratch, 'prometheus.yml');
    writeFileSync(
      config,
      `global:
  scrape_interval: 1s
rule_files: ['${RULES}']
scrape_configs:
  - job_name: ds-backup
    scrape_interval: 1s
    static_configs: [{ targets: ['${target}'] }]
    authorization: { type: Bearer, credentials: '${METRICS_TOKEN}' }
`,
    );
    const prom = spawn(
      'prometheus',
      [
        `--config.file=${config}`,
        `--storage.tsdb.path=${join(scratch, 'tsdb')}`,
        `--web.listen-address=127.0.0.1:${port}`,
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let log = '';
    prom.stderr.on('data', (c: Buffer) => (log = (log + c.toString()).slice(-4000)));
    const exited = new Promise((r) => prom.once('exit', r));
    try {
      const q = `http://127.0.0.1:${port}/api/v1/query?query=${encodeURIComponent('ds_backup_backups_completed_total{job="ds-backup"}')}`;
      let value: string | null = null;
      for (let i = 0; i < 120 && value === null; i++) {
        await new Promise((r) => setTimeout(r, 500));
        try {
          const body = (await (await fetch(q)).json()) as { data: { result: Array<{ value: [number, string] }> } };
          value = body.data.result[0]?.value[1] ?? null;
        } catch {
          /* not listening yet */
        }
      }
      assert.equal(value, '1', `Prometheus answered ${value}; its log:\n${log}`);
      const up = (await (
        await fetch(`http://127.0.0.1:${port}/api/v1/query?query=${encodeURIComponent('up{job="ds-backup"}')}`)
      ).json()) as { data: { result: Array<{ value: [number, string] }> } };
      assert.equal(up.data.result[0].value[1], '1');
    } finally {
      prom.kill('SIGTERM');
      await exited;
    }
  },
);
