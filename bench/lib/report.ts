import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Commit, Machine } from './machine';

export type Unit = '/s' | 'ms' | 's' | 'MB' | '×';

export interface Figure {
  key: string;
  label: string;
  value: number | null;
  unit: Unit;
  /** The issue's target; figures without one are context (e.g. the hand-written SQL rate). */
  target?: { op: '>=' | '<='; value: number };
  note?: string;
}

export interface BenchmarkResult {
  name: string;
  figures: Figure[];
  /** Everything measured, for whoever wants more than the table. */
  details: Record<string, unknown>;
  /** Observations worth a sentence in the summary (what a figure includes, what limited it). */
  notes: string[];
}

export interface RunReport {
  date: string;
  commit: Commit;
  machine: Machine & { postgres: string };
  database: { source: string; settings: Record<string, string> } | null;
  benchmarks: BenchmarkResult[];
  durationS: number;
  /** 1-minute load average when the run began and ended: other work on the machine skews figures. */
  loadAverage: { start: number; end: number };
}

export function passes(figure: Figure): boolean | null {
  if (!figure.target || figure.value === null || Number.isNaN(figure.value)) return figure.target ? false : null;
  return figure.target.op === '>=' ? figure.value >= figure.target.value : figure.value <= figure.target.value;
}

export function format(value: number | null, unit: Unit): string {
  if (value === null || Number.isNaN(value)) return 'n/a';
  const digits = unit === '×' || unit === 's' ? 2 : unit === 'ms' ? (value < 1 ? 3 : value < 100 ? 1 : 0) : 0;
  const text = value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
  return unit === '×' ? `${text}×` : `${text} ${unit}`;
}

function targetText(figure: Figure): string {
  return figure.target ? `${figure.target.op === '>=' ? '≥' : '≤'} ${format(figure.target.value, figure.unit)}` : '';
}

function verdict(figure: Figure): string {
  const pass = passes(figure);
  return pass === null ? '' : pass ? 'pass' : 'FAIL';
}

/** The figures as an aligned plain-text table, for the terminal. */
export function textTable(report: RunReport): string {
  const rows = [['Figure', 'Value', 'Target', 'Result']];
  for (const bench of report.benchmarks) {
    for (const f of bench.figures) rows.push([f.label, format(f.value, f.unit), targetText(f), verdict(f)]);
  }
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  const line = (r: string[]) => r.map((cell, c) => (c === 1 ? cell.padStart(widths[c]!) : cell.padEnd(widths[c]!))).join('  ').trimEnd();
  return [line(rows[0]!), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.slice(1).map(line)].join('\n');
}

function machineLines(report: RunReport): string[] {
  const m = report.machine;
  const lines = [
    `- **When:** ${report.date} — commit \`${report.commit.commit}\`${report.commit.dirty ? ' (with uncommitted changes)' : ''}`,
    `- **Machine:** ${m.os}; ${m.cpu}, ${m.cores} cores; ${m.memoryGb} GB memory; Node.js ${m.node}`,
    `- **PostgreSQL:** ${m.postgres}`,
  ];
  if (report.database) {
    const settings = Object.entries(report.database.settings).map(([k, v]) => `${k}=${v}`).join(', ');
    lines.push(`- **Database:** ${report.database.source === 'embedded' ? 'embedded PostgreSQL (.data/bench)' : `from ${report.database.source}`}; ${settings}`);
  }
  lines.push(`- **Run time:** ${Math.round(report.durationS)} s; load average ${report.loadAverage.start} at the start, ${report.loadAverage.end} at the end`);
  if (Math.max(report.loadAverage.start, report.loadAverage.end) > m.cores / 2) {
    lines.push(`- **Warning:** the machine was busy with other work (load average above ${m.cores / 2}); the figures are lower than on an idle machine.`);
  }
  return lines;
}

function markdownTable(report: RunReport): string[] {
  const lines = ['| Figure | Value | Target | Result |', '| --- | ---: | --- | --- |'];
  for (const bench of report.benchmarks) {
    for (const f of bench.figures) {
      const result = verdict(f) === 'FAIL' ? '**FAIL**' : verdict(f);
      lines.push(`| ${f.label}${f.note ? ` <br><sub>${f.note}</sub>` : ''} | ${format(f.value, f.unit)} | ${targetText(f)} | ${result} |`);
    }
  }
  return lines;
}

interface HistoryEntry {
  date: string;
  commit: string;
  benchmarks: string[];
  figures: Record<string, number | null>;
  failed: string[];
}

const HISTORY_COLUMNS: [key: string, title: string, unit: Unit][] = [
  ['payouts.service', 'payouts/s (service)', '/s'],
  ['payouts.sql', 'payouts/s (SQL)', '/s'],
  ['graphql.payouts.rps', 'GraphQL payouts rps', '/s'],
  ['graphql.payouts.p99', 'p99', 'ms'],
  ['graphql.trivial.rps', 'trivial rps', '/s'],
  ['requests.api.rps', 'requestPayout rps', '/s'],
  ['requests.api.p99', 'p99', 'ms'],
  ['requests.flow.seconds', 'requests NEW → SENT', 's'],
  ['shops.ingest.eventsPerSecond', 'invoicing events/s', '/s'],
  ['shops.mass.seconds', 'mass run', 's'],
  ['shops.mass.rssPeak', 'mass-run worker RSS', 'MB'],
  ['startup.second', 'ready (2nd start)', 's'],
  ['memory.max', 'max RSS', 'MB'],
];

/**
 * Writes latest.json (this run in full), appends a line to history.jsonl and rewrites
 * README.md from both: the latest run in detail and a table of every run before it.
 */
export function writeResults(report: RunReport, directory: string): void {
  const notes = report.benchmarks.flatMap((b) => b.notes);
  mkdirSync(directory, { recursive: true });
  writeFileSync(path.join(directory, 'latest.json'), `${JSON.stringify(report, null, 2)}\n`);

  const figures = report.benchmarks.flatMap((b) => b.figures);
  const entry: HistoryEntry = {
    date: report.date,
    commit: report.commit.commit + (report.commit.dirty ? '+' : ''),
    benchmarks: report.benchmarks.map((b) => b.name),
    figures: Object.fromEntries(figures.map((f) => [f.key, f.value])),
    failed: figures.filter((f) => passes(f) === false).map((f) => f.key),
  };
  const memory = figures.filter((f) => f.key.startsWith('memory.') && f.value !== null).map((f) => f.value!);
  if (memory.length > 0) entry.figures['memory.max'] = Math.max(...memory);
  const historyFile = path.join(directory, 'history.jsonl');
  const history = existsSync(historyFile)
    ? readFileSync(historyFile, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as HistoryEntry)
    : [];
  history.push(entry);
  writeFileSync(historyFile, history.map((h) => JSON.stringify(h)).join('\n') + '\n');

  const readme = [
    '# Benchmark results',
    '',
    'Written by `npm run bench` (all benchmarks) or `npm run bench -- payouts|graphql|requests|shops|mass-run|startup` (some).',
    '`latest.json` holds the last run in full; `history.jsonl` one line per run. Targets are the',
    'foundation issue’s, the shop issue’s (ingestion, mass run) and the payout-request issue’s',
    '(requestPayout, NEW → SENT), for a 2-core machine.',
    '',
    `## Latest run (${report.benchmarks.map((b) => b.name).join(', ')})`,
    '',
    ...machineLines(report),
    '',
    ...markdownTable(report),
    '',
    ...(notes.length > 0 ? ['### Notes', '', ...notes.map((n) => `- ${n}`), ''] : []),
    '## Every run',
    '',
    `| Date | Commit | ${HISTORY_COLUMNS.map(([, title]) => title).join(' | ')} | Failed |`,
    `| --- | --- | ${HISTORY_COLUMNS.map(() => '---:').join(' | ')} | --- |`,
    ...[...history].reverse().map((h) => {
      const cells = HISTORY_COLUMNS.map(([key, , unit]) => (key in h.figures ? format(h.figures[key] ?? null, unit) : ''));
      return `| ${h.date.slice(0, 16).replace('T', ' ')} | \`${h.commit}\` | ${cells.join(' | ')} | ${h.failed.join(', ') || '—'} |`;
    }),
    '',
  ];
  writeFileSync(path.join(directory, 'README.md'), readme.join('\n'));
}
