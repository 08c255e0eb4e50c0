/**
 * markdown — rewrites the generated part of BENCHMARKS.md (between the
 * `<!-- bench:begin -->` and `<!-- bench:end -->` markers) with the latest
 * table, the goal checks and the machine; text outside the markers (method,
 * analysis, profiles) is kept as written.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';

const BEGIN = '<!-- bench:begin -->';
const END = '<!-- bench:end -->';

export interface MdInput {
  date: Date;
  machine: Record<string, string>;
  table: string;
  goals: string;
  notes: string[];
  command: string;
  netns: boolean;
}

export function generatedSection(m: MdInput): string {
  const mach = Object.entries(m.machine)
    .map(([k, v]) => `- ${k}: ${v}`)
    .join('\n');
  return [
    BEGIN,
    `Latest run: ${m.date.toISOString().slice(0, 16).replace('T', ' ')} UTC, \`${m.command}\`` +
      (m.netns
        ? " (private network namespace: wire bytes are only the benchmark's)"
        : ' (shared loopback: wire bytes include other traffic)'),
    '',
    mach,
    '',
    m.table,
    '',
    m.goals,
    ...(m.notes.length ? ['', ...m.notes.map((n) => `- ${n}`)] : []),
    END,
  ].join('\n');
}

export function writeBenchmarksMd(path: string, m: MdInput): void {
  const section = generatedSection(m);
  const old = existsSync(path) ? readFileSync(path, 'utf8') : `# Benchmarks\n\n${BEGIN}\n${END}\n`;
  const i = old.indexOf(BEGIN);
  const j = old.indexOf(END);
  const next =
    i >= 0 && j > i ? old.slice(0, i) + section + old.slice(j + END.length) : `${old.trimEnd()}\n\n${section}\n`;
  writeFileSync(path, next);
}

/** Rewrites one named generated section (`<!-- bench:NAME:begin -->` … `end`), appended when absent. */
export function writeNamedSection(path: string, name: string, body: string): void {
  const [b, e] = [`<!-- bench:${name}:begin -->`, `<!-- bench:${name}:end -->`];
  const old = existsSync(path) ? readFileSync(path, 'utf8') : '# Benchmarks\n';
  const section = `${b}\n${body}\n${e}`;
  const i = old.indexOf(b);
  const j = old.indexOf(e);
  writeFileSync(
    path,
    i >= 0 && j > i ? old.slice(0, i) + section + old.slice(j + e.length) : `${old.trimEnd()}\n\n${section}\n`,
  );
}
