/**
 * bench — keeps `npm run bench` from rotting: the benchmark's own code path
 * (corpus, tools, scenarios, summaries, goals, table, BENCHMARKS.md section)
 * on a tiny corpus, one run, cp and ds-backup only. No timing assertions.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { runBench } from '../scripts/bench/scenarios.js';
import { goals, goalTable, markdownTable, summarize } from '../scripts/bench/report.js';
import { generatedSection } from '../scripts/bench/markdown.js';
import { cleanup, tmp } from './helpers/harness.js';

test('the benchmark runs end to end on a tiny corpus', async () => {
  const work = tmp('bench');
  try {
    const res = await runBench({
      work: join(work, 'w'),
      entries: 10,
      scale: 'small',
      runs: 1,
      tools: ['ds-backup', 'cp'],
      scenarios: ['first', 'nochange', 'change1', 'restore', 'classroom'],
      classroom: { laptops: 2, entries: 8 },
      factors: [],
      scalingTools: ['ds-backup'],
      log: () => {},
    });
    const s = res.rows.map(summarize);
    const key = (x: { scenario: string; tool: string }) => `${x.scenario}/${x.tool}`;
    assert.deepEqual(s.map(key).sort(), [
      'change1/ds-backup',
      'classroom/ds-backup',
      'first/cp',
      'first/ds-backup',
      'nochange/ds-backup',
      'restore/cp',
      'restore/ds-backup',
    ]);
    const first = s.find((x) => key(x) === 'first/ds-backup')!;
    assert.ok(first.wall > 0 && first.cpu >= 0 && first.rss > 0, 'wall, CPU and RSS measured');
    assert.ok((first.wire ?? 0) > 0, 'loopback bytes counted');
    assert.ok((first.serverRss ?? 0) > 0, 'server peak RSS read from /proc');
    assert.ok(first.extra.commitMs >= 0, 'the server reports its commit time');
    const nochange = s.find((x) => key(x) === 'nochange/ds-backup')!;
    assert.equal(nochange.extra.uploadedBlobs, 0, 'nothing uploaded when nothing changed');
    const g = goals(s);
    assert.ok(
      g.some((x) => x.what.startsWith('first backup') && x.value.endsWith('×')),
      'ratio to cp computed',
    );
    const md = generatedSection({
      date: new Date(),
      machine: { node: process.version },
      table: markdownTable(s),
      goals: goalTable(g),
      notes: res.notes,
      command: 'test',
      netns: false,
    });
    assert.match(md, /\| first backup \| 1× \| ds-backup \|/);
  } finally {
    cleanup(work);
  }
});
