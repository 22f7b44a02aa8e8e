/**
 * The end-of-run table: one row per run, aligned plain text for a terminal and a Markdown variant
 * for BENCHMARKS.md. Runs without a summary record (killed) are summarized from their iterations.
 */
import { argError } from '../petsc/errors';
import { formatNumber } from './progress';
import { explainStop } from './reasons';
import type { HeaderRecord, IterationRecord, RecordCounts, SummaryRecord } from './record';

/** What a table row needs: a header, and a summary and/or the iteration records. */
export interface RunLike {
  header: HeaderRecord;
  iterations?: readonly IterationRecord[];
  summary?: SummaryRecord;
}

/** One row of the summary table, as numbers (formatting happens in {@link formatSummaryTable}). */
export interface SummaryRow {
  solver: string;
  iterations: number;
  epochs: number;
  finalLoss: number;
  minLoss: number;
  /** Final test metric, or null without a test set. */
  testMetric: number | null;
  metric: string | null;
  oracleCalls: number;
  counts: RecordCounts;
  /** Wall seconds. */
  time: number;
  /** TAO's stop reason, or 'killed' when the log has no summary. */
  reason: string;
  /** The reason in words, and what to try (logs written before these existed have neither). */
  explanation?: string;
  hint?: string;
}

const ZERO_COUNTS: RecordCounts = {
  objective: 0,
  gradient: 0,
  objectiveAndGradient: 0,
  hessian: 0,
  hessianProducts: 0,
  kspIterations: 0,
};

function finiteMin(values: Iterable<number>): number {
  let m = NaN;
  for (const v of values) if (Number.isFinite(v) && !(v >= m)) m = v;
  return m;
}

/** The row of one run. */
export function summarizeRun(run: RunLike): SummaryRow {
  if (run === null || typeof run !== 'object' || run.header?.type !== 'header') {
    throw argError('summarizeRun(run)', 'a run with a header record', run);
  }
  const its = run.iterations ?? [];
  const last = its.length ? its[its.length - 1] : undefined;
  let lastMetric: number | null = null;
  for (let i = its.length - 1; i >= 0; i--) {
    const m = its[i].testMetric;
    if (m !== null && m !== undefined) {
      lastMetric = m;
      break;
    }
  }
  const s = run.summary;
  const iterMin = finiteMin(its.map((r) => (r.trainLoss !== undefined ? r.trainLoss ?? NaN : r.loss)));
  return {
    solver: run.header.solver,
    iterations: s?.iterations ?? last?.iteration ?? 0,
    epochs: s?.epochs ?? last?.epoch ?? 0,
    finalLoss: s?.loss ?? last?.loss ?? NaN,
    minLoss: s ? finiteMin([s.minLoss, s.loss, iterMin]) : iterMin,
    testMetric: s?.testMetric ?? lastMetric,
    metric: run.header.metric ?? null,
    oracleCalls: s?.oracleCalls ?? last?.oracleCalls ?? 0,
    counts: s?.counts ?? last?.counts ?? ZERO_COUNTS,
    time: s?.time ?? last?.time ?? 0,
    reason: s?.reason ?? 'killed',
    ...(s ? { explanation: s.explanation, hint: s.hint } : { explanation: explainStop('killed', { iterations: 0 }).explanation }),
  };
}

/** Options of {@link formatSummaryTable}. */
export interface SummaryTableOptions {
  /** 'text' (aligned columns, the default) or 'markdown' (a GitHub table). */
  format?: 'text' | 'markdown';
}

interface Column {
  title: string;
  numeric: boolean;
  cell: (r: SummaryRow) => string;
}

function fmtEpochs(e: number): string {
  return Number.isInteger(e) ? String(e) : e.toFixed(2);
}

function fmtTime(t: number): string {
  return t < 10 ? t.toFixed(2) : t < 100 ? t.toFixed(1) : t.toFixed(0);
}

/**
 * The summary table of one or more runs. The test column is named after the metric when all runs
 * share one ('test mse'), and shows '-' for runs without a test set.
 */
export function formatSummaryTable(runs: readonly (RunLike | SummaryRow)[], opts: SummaryTableOptions = {}): string {
  if (!Array.isArray(runs)) throw argError('formatSummaryTable(runs)', 'an array of runs', runs);
  const format = opts.format ?? 'text';
  if (format !== 'text' && format !== 'markdown') {
    throw argError('formatSummaryTable(runs, { format })', "'text' or 'markdown'", format);
  }
  const isRow = (r: unknown): r is SummaryRow =>
    r !== null && typeof r === 'object' && typeof (r as SummaryRow).solver === 'string' && 'finalLoss' in r;
  const rows = runs.map((r) => (isRow(r) ? r : summarizeRun(r)));
  const metrics = new Set(rows.map((r) => r.metric).filter((m): m is string => m !== null));
  const metricTitle = metrics.size === 1 ? `test ${[...metrics][0]}` : 'test metric';
  const columns: Column[] = [
    { title: 'solver', numeric: false, cell: (r) => r.solver },
    { title: 'iters', numeric: true, cell: (r) => String(r.iterations) },
    { title: 'epochs', numeric: true, cell: (r) => fmtEpochs(r.epochs) },
    { title: 'final loss', numeric: true, cell: (r) => formatNumber(r.finalLoss) },
    { title: 'min loss', numeric: true, cell: (r) => formatNumber(r.minLoss) },
    { title: metricTitle, numeric: true, cell: (r) => formatNumber(r.testMetric) },
    { title: 'oracle calls', numeric: true, cell: (r) => String(Math.round(r.oracleCalls)) },
    { title: 'f', numeric: true, cell: (r) => String(r.counts.objective) },
    { title: 'g', numeric: true, cell: (r) => String(r.counts.gradient) },
    { title: 'f+g', numeric: true, cell: (r) => String(r.counts.objectiveAndGradient) },
    { title: 'Hv', numeric: true, cell: (r) => String(r.counts.hessianProducts) },
    { title: 'time (s)', numeric: true, cell: (r) => fmtTime(r.time) },
    { title: 'reason', numeric: false, cell: (r) => r.reason },
  ];
  const cells = rows.map((r) => columns.map((c) => c.cell(r)));
  if (format === 'markdown') {
    // Pipes inside a solver label would split the cell.
    const esc = (s: string) => s.replace(/\|/g, '\\|');
    const out = [
      `| ${columns.map((c) => c.title).join(' | ')} |`,
      `|${columns.map((c) => (c.numeric ? '---:' : ':---')).join('|')}|`,
      ...cells.map((row) => `| ${row.map(esc).join(' | ')} |`),
    ];
    const why = reasonLines(rows, (r) => `- ${esc(r.solver)}: `);
    return out.join('\n') + '\n' + (why.length ? '\n' + why.join('\n') + '\n' : '');
  }
  const widths = columns.map((c, j) => Math.max(c.title.length, ...cells.map((row) => row[j].length)));
  const pad = (s: string, j: number) => (columns[j].numeric ? s.padStart(widths[j]) : s.padEnd(widths[j]));
  const line = (row: string[]) => row.map(pad).join('  ').trimEnd();
  const out = [line(columns.map((c) => c.title)), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.map(line)];
  const why = reasonLines(rows, (r) => `${r.solver}: `);
  return out.join('\n') + '\n' + (why.length ? '\n' + why.join('\n') + '\n' : '');
}

/** Why each run stopped, a line each (and its hint), for the runs whose logs say. */
function reasonLines(rows: readonly SummaryRow[], lead: (r: SummaryRow) => string): string[] {
  const lines: string[] = [];
  for (const r of rows) {
    if (!r.explanation) continue;
    lines.push(`${lead(r)}${r.explanation}${r.hint ? `; hint: ${r.hint}` : ''}`);
  }
  return lines;
}
