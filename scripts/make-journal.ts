/**
 * make-journal — writes a generated Sugar profile for trying ds-backup by hand.
 *   npx tsx scripts/make-journal.ts DIR [--entries N] [--seed S] [--layout 6|0] [--reference]
 */
import { writeProfile } from '../src/journal/gen/generator.js';

const args = process.argv.slice(2);
const dir = args.find((a) => !a.startsWith('--'));
const opt = (name: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
};
if (!dir) {
  process.stderr.write('usage: make-journal DIR [--entries N] [--seed S] [--layout 6|0] [--reference]\n');
  process.exit(2);
}
const r = writeProfile(dir, {
  seed: opt('seed') ?? 'demo',
  entries: Number(opt('entries') ?? 100),
  layout: opt('layout') === '0' ? 0 : 6,
  scale: args.includes('--reference') ? 'reference' : 'small',
  documents: true,
});
process.stdout.write(`${dir}: ${r.entries.length} entries, ${r.files} files, ${(r.bytes / 1e6).toFixed(1)} MB\n`);
