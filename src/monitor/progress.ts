/**
 * The progress of a running solve, on a terminal or in a log file.
 *
 * On a terminal: one line rewritten in place (carriage return + erase line), redrawn at most
 * `maxRedrawsPerSecond` times a second, so a solver doing thousands of cheap iterations a second
 * does not spend its time drawing. In a pipe, a file or CI (the `CI` environment variable set), the
 * same information as plain lines — the first iteration, then one line every `every` iterations or
 * `intervalSeconds` seconds, whichever comes first, and the last — with no control characters.
 */
import { argError } from '../petsc/errors';
import type { IterationRecord, SummaryRecord } from './record';

/** The part of a writable stream the reporter uses (process.stderr, a file stream, a test double). */
export interface ProgressStream {
  write(chunk: string): unknown;
  /** True for a terminal. */
  isTTY?: boolean;
  /** Terminal width, when known: the live line is cut to fit so it never wraps. */
  columns?: number;
}

/** Options of {@link ProgressReporter}. */
export interface ProgressOptions {
  /** Where to write. Default process.stderr (stdout stays free for results). */
  stream?: ProgressStream;
  /** Run label printed first on each line (for example 'TR-GN'). */
  label?: string;
  /** Name of the test metric (for example 'mse'). Default 'test'. */
  metric?: string;
  /** Force live (true) or plain (false) output; default: live when the stream is a TTY and CI is unset. */
  live?: boolean;
  /** Environment consulted for CI. Default process.env. */
  env?: Record<string, string | undefined>;
  /** Live mode: the most redraws per second. Default 10. */
  maxRedrawsPerSecond?: number;
  /** Plain mode: print every this many iterations. Default 100. */
  every?: number;
  /** Plain mode: print at least this often, in seconds, while iterations arrive. Default 5. */
  intervalSeconds?: number;
  /** Clock in milliseconds, for tests. Default Date.now. */
  now?: () => number;
}

/** True when the environment says it is a CI job (CI set to anything but '', '0' or 'false'). */
export function isCI(env: Record<string, string | undefined> = process.env): boolean {
  const v = env.CI;
  return v !== undefined && v !== '' && v !== '0' && v.toLowerCase() !== 'false';
}

/** Numbers in a fixed short form: losses span many decades, so always 3 significant digits. */
export function formatNumber(v: number | null | undefined): string {
  if (v === null || v === undefined) return '-';
  if (!Number.isFinite(v)) return String(v);
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e-3 && a < 1e5) return Number(v.toPrecision(4)).toString();
  return v.toExponential(2);
}

/** Counts (oracle calls): integers below a million as they are, larger ones in exponent form. */
function formatCount(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  if (Math.abs(v) < 1e6) return Number.isInteger(v) ? String(v) : v.toFixed(1);
  return v.toExponential(2);
}

function checkPositive(where: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw argError(where, 'a positive number', v);
  return v;
}

/** Reports IterationRecords as they arrive; call `finish()` once at the end. */
export class ProgressReporter {
  /** Whether output is the live, rewritten line. */
  readonly live: boolean;
  private readonly stream: ProgressStream;
  private readonly label: string;
  private readonly metric: string;
  private readonly minRedrawMs: number;
  private readonly every: number;
  private readonly intervalMs: number;
  private readonly now: () => number;
  private last: IterationRecord | null = null;
  private lastTestMetric: number | null = null;
  // With mini-batches `loss` is one batch's; the line shows the training-set loss (recorded once
  // per epoch), the number the summary reports, and never a batch's next to it.
  private lastTrainLoss: number | null = null;
  private lastDrawMs = -Infinity;
  private lastPrintedIteration: number | null = null;
  /** The live line is on screen and not yet ended with a newline. */
  private dirty = false;
  private finished = false;

  constructor(opts: ProgressOptions = {}) {
    if (opts === null || typeof opts !== 'object') throw argError('ProgressReporter(opts)', 'an options object', opts);
    this.stream = opts.stream ?? process.stderr;
    if (typeof this.stream?.write !== 'function') throw argError('ProgressReporter({ stream })', 'a writable stream', opts.stream);
    this.label = opts.label ?? '';
    this.metric = opts.metric ?? 'test';
    this.live = opts.live ?? (this.stream.isTTY === true && !isCI(opts.env ?? process.env));
    this.minRedrawMs = 1000 / checkPositive('ProgressReporter({ maxRedrawsPerSecond })', opts.maxRedrawsPerSecond ?? 10);
    this.every = checkPositive('ProgressReporter({ every })', opts.every ?? 100);
    this.intervalMs = 1000 * checkPositive('ProgressReporter({ intervalSeconds })', opts.intervalSeconds ?? 5);
    this.now = opts.now ?? Date.now;
  }

  /** The text of one progress line for a record (no newline, no control characters). */
  format(rec: IterationRecord): string {
    const parts: string[] = [];
    if (this.label) parts.push(this.label);
    parts.push(`it ${rec.iteration}`);
    parts.push(`epoch ${Number.isInteger(rec.epoch) ? rec.epoch : rec.epoch.toFixed(2)}`);
    const trainLoss = rec.trainLoss ?? this.lastTrainLoss;
    parts.push(`loss ${formatNumber(trainLoss ?? rec.loss)}`);
    if (this.lastTestMetric !== null) parts.push(`${this.metric} ${formatNumber(this.lastTestMetric)}`);
    parts.push(`oracle ${formatCount(rec.oracleCalls)}`);
    // Rate over the whole solve (from the record's own clock), steadier than a per-redraw rate.
    if (rec.time > 0) parts.push(`${formatNumber(rec.iteration / rec.time)} it/s`);
    return parts.join('  ');
  }

  /** Feeds the record of an iteration that just ended. */
  update(rec: IterationRecord): void {
    if (this.finished) throw new Error('petscml: ProgressReporter.update: called after finish()');
    if (rec === null || typeof rec !== 'object' || typeof rec.iteration !== 'number') {
      throw argError('ProgressReporter.update(record)', 'an IterationRecord', rec);
    }
    const first = this.last === null;
    this.last = rec;
    // Test metrics may be computed every few iterations only: show the latest one known.
    if (rec.testMetric !== null && rec.testMetric !== undefined) this.lastTestMetric = rec.testMetric;
    if (rec.trainLoss !== null && rec.trainLoss !== undefined) this.lastTrainLoss = rec.trainLoss;
    const t = this.now();
    if (this.live) {
      if (first || t - this.lastDrawMs >= this.minRedrawMs) this.draw(t);
      return;
    }
    const due =
      first ||
      (this.lastPrintedIteration !== null && rec.iteration - this.lastPrintedIteration >= this.every) ||
      t - this.lastDrawMs >= this.intervalMs;
    if (due) this.printPlain(t);
  }

  /**
   * Prints the last record's line if it is not on screen yet and ends the live line. With a
   * summary, adds one closing line with the stop reason. Idempotent.
   */
  finish(summary?: SummaryRecord): void {
    if (this.finished) return;
    this.finished = true;
    if (this.last) {
      if (this.live) {
        this.draw(this.now());
        this.stream.write('\n');
        this.dirty = false;
      } else if (this.lastPrintedIteration !== this.last.iteration) {
        this.printPlain(this.now());
      }
    }
    if (summary) {
      const head = this.label ? `${this.label}  ` : '';
      this.stream.write(
        `${head}${summary.converged ? 'converged' : 'stopped'}: ${summary.reason} after ${summary.iterations} iterations, ` +
          `loss ${formatNumber(summary.loss)}, ${formatNumber(summary.time)} s` +
          `${summary.explanation ? `: ${summary.explanation}` : ''}\n${summary.hint ? `${head}hint: ${summary.hint}\n` : ''}`,
      );
    }
  }

  private draw(t: number): void {
    let line = this.format(this.last!);
    const cols = this.stream.columns;
    if (typeof cols === 'number' && cols > 1 && line.length >= cols) line = line.slice(0, cols - 1);
    // \r to column 0, then ESC[2K erases the old line, which may have been longer.
    this.stream.write(`\r\x1b[2K${line}`);
    this.dirty = true;
    this.lastDrawMs = t;
  }

  private printPlain(t: number): void {
    this.stream.write(this.format(this.last!) + '\n');
    this.lastPrintedIteration = this.last!.iteration;
    this.lastDrawMs = t;
  }

  /** Live mode: whether a line is on screen without its newline (a caller printing must end it first). */
  get lineOpen(): boolean {
    return this.dirty;
  }
}
