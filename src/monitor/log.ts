/**
 * The JSON-lines training log: a durable writer and a tolerant reader.
 *
 * The writer appends each record with a synchronous write on a file descriptor, so the bytes are in
 * the operating system's page cache when `write()` returns: a run killed with SIGKILL (or by mpirun
 * tearing its ranks down) keeps every record written before the kill. Surviving a power cut would
 * need an fsync per record, which costs milliseconds; `fsync: true` asks for it.
 *
 * Non-finite numbers (a diverged loss) have no JSON spelling: the writer stores them as `null` and
 * the reader turns `null` back into `NaN` in the numeric fields that the schema types as numbers.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { argError } from '../petsc/errors';
import type { HeaderRecord, IterationRecord, RunRecord, SummaryRecord } from './record';

/** Options of {@link JsonlLog.open}. */
export interface JsonlLogOptions {
  /**
   * Whether this process writes the log. Pass `false` on every MPI rank but one: a disabled log
   * creates no file and its `write()` does nothing, so callers need no rank checks of their own.
   * Default true.
   */
  enabled?: boolean;
  /** Append to an existing file instead of replacing it. Default false (one run per log). */
  append?: boolean;
  /** fsync after every record (survives an OS crash, not only a killed process). Default false. */
  fsync?: boolean;
}

const RECORD_TYPES = new Set(['header', 'iteration', 'summary']);

/** Writes a training log, one JSON record per line, each durable once `write()` returns. */
export class JsonlLog {
  /** The log's path (as given, resolved to an absolute path). */
  readonly path: string;
  /** False when this process does not write (see {@link JsonlLogOptions.enabled}). */
  readonly enabled: boolean;
  private fd: number | null = null;
  private readonly fsync: boolean;
  private bytes = 0;

  private constructor(file: string, opts: JsonlLogOptions) {
    this.path = path.resolve(file);
    this.enabled = opts.enabled ?? true;
    this.fsync = opts.fsync ?? false;
    if (!this.enabled) return;
    try {
      fs.mkdirSync(path.dirname(this.path), { recursive: true });
      this.fd = fs.openSync(this.path, opts.append ? 'a' : 'w');
      this.bytes = opts.append ? fs.fstatSync(this.fd).size : 0;
    } catch (e) {
      throw new Error(`petscml: cannot open the log ${file} for writing: ${(e as Error).message}`, { cause: e });
    }
  }

  /** Opens (creating missing directories) or, when `enabled` is false, pretends to open a log. */
  static open(file: string, opts: JsonlLogOptions = {}): JsonlLog {
    if (typeof file !== 'string' || file.length === 0) throw argError('JsonlLog.open(path)', 'a non-empty path', file);
    if (opts === null || typeof opts !== 'object') throw argError('JsonlLog.open(path, opts)', 'an options object', opts);
    if (opts.enabled !== undefined && typeof opts.enabled !== 'boolean') {
      throw argError('JsonlLog.open(path, { enabled })', 'a boolean', opts.enabled);
    }
    return new JsonlLog(file, opts);
  }

  /** Whether `close()` has been called (or the log never opened because it is disabled). */
  get closed(): boolean {
    return this.fd === null;
  }

  /** Appends one record as a line; when this returns, a killed process no longer loses it. */
  write(record: RunRecord): void {
    if (!this.enabled) return;
    if (this.fd === null) throw new Error(`petscml: JsonlLog.write: the log ${this.path} is closed`);
    if (record === null || typeof record !== 'object' || !RECORD_TYPES.has((record as { type?: unknown }).type as string)) {
      throw argError('JsonlLog.write(record)', "a record with type 'header', 'iteration' or 'summary'", record);
    }
    const buf = Buffer.from(JSON.stringify(record) + '\n', 'utf8');
    // writeSync may write less than asked (a full disk, a signal): loop so a line is never torn
    // by us, only by a kill in the middle of it.
    let off = 0;
    while (off < buf.length) off += fs.writeSync(this.fd, buf, off, buf.length - off);
    this.bytes += buf.length;
    if (this.fsync) fs.fsyncSync(this.fd);
  }

  /** Bytes in the file after the last write (where the next record starts); 0 when disabled. */
  get position(): number {
    return this.bytes;
  }

  /** Closes the file. Idempotent. */
  close(): void {
    if (this.fd === null) return;
    const fd = this.fd;
    this.fd = null;
    fs.closeSync(fd);
  }
}

/** A log read back: its header, iteration records in file order, and the summary if the run ended. */
export interface RunLog {
  /** The file it was read from ('' for logs built in memory). */
  path: string;
  header: HeaderRecord;
  iterations: IterationRecord[];
  /** Missing when the run was killed before it ended. */
  summary?: SummaryRecord;
  /** True when the last line was cut short (a run killed mid-write) and was skipped. */
  torn: boolean;
}

/** The numeric fields the writer may have stored as `null` (non-finite). */
const ITERATION_NUMBERS = ['iteration', 'epoch', 'loss', 'gradNorm', 'oracleCalls', 'time'] as const;
const SUMMARY_NUMBERS = ['iterations', 'epochs', 'loss', 'minLoss', 'gradNorm', 'oracleCalls', 'time'] as const;

function notALog(file: string, why: string): Error {
  return new Error(`petscml: ${file} is not a petscml training log (${why})`);
}

function numbers(file: string, line: number, rec: Record<string, unknown>, keys: readonly string[]): void {
  for (const k of keys) {
    const v = rec[k];
    if (v === null) rec[k] = NaN;
    else if (typeof v !== 'number') {
      throw new Error(`petscml: ${file} line ${line}: ${rec.type} record has no number '${k}' (got ${JSON.stringify(v)})`);
    }
  }
}

/** Parses the text of a log; `file` only names it in error messages. */
export function parseLog(text: string, file = '<log>'): RunLog {
  const lines = text.split('\n');
  // A file ending in '\n' splits into a last empty string: only a non-empty last piece can be torn.
  const endsClean = text.endsWith('\n');
  let header: HeaderRecord | undefined;
  const iterations: IterationRecord[] = [];
  let summary: SummaryRecord | undefined;
  let torn = false;
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i].trim();
    if (raw === '') continue;
    const lineNo = i + 1;
    let rec: Record<string, unknown>;
    try {
      rec = JSON.parse(raw);
    } catch {
      if (i === lines.length - 1 && !endsClean && header) {
        torn = true;
        break;
      }
      if (!header) throw notALog(file, `line ${lineNo} is not JSON`);
      throw new Error(`petscml: ${file} line ${lineNo}: not valid JSON (the log is damaged)`);
    }
    if (rec === null || typeof rec !== 'object' || Array.isArray(rec)) {
      if (!header) throw notALog(file, `line ${lineNo} is not a JSON object`);
      throw new Error(`petscml: ${file} line ${lineNo}: not a JSON object (the log is damaged)`);
    }
    if (!header) {
      if (rec.type !== 'header') throw notALog(file, 'its first record is not a header');
      if (typeof rec.solver !== 'string') throw notALog(file, "its header has no 'solver' label");
      header = rec as unknown as HeaderRecord;
      continue;
    }
    if (rec.type === 'iteration') {
      numbers(file, lineNo, rec, ITERATION_NUMBERS);
      if (rec.testMetric === undefined) rec.testMetric = null;
      iterations.push(rec as unknown as IterationRecord);
    } else if (rec.type === 'summary') {
      numbers(file, lineNo, rec, SUMMARY_NUMBERS);
      summary = rec as unknown as SummaryRecord;
    } else if (rec.type === 'header') {
      throw new Error(`petscml: ${file} line ${lineNo}: a second header (one run per log; was it appended to?)`);
    }
    // Unknown record types come from newer writers: skipped, as unknown fields are.
  }
  if (!header) throw notALog(file, 'it is empty');
  return { path: file, header, iterations, summary, torn };
}

/** Reads one log file. Errors name the file and say what is wrong with it. */
export function readLog(file: string): RunLog {
  if (typeof file !== 'string' || file.length === 0) throw argError('readLog(path)', 'a non-empty path', file);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const why = err.code === 'ENOENT' ? 'no such file' : err.code === 'EISDIR' ? 'it is a directory' : err.message;
    throw new Error(`petscml: cannot read the log ${file}: ${why}`, { cause: e });
  }
  return parseLog(text, file);
}

/** Reads several log files, in order. */
export function readLogs(files: readonly string[]): RunLog[] {
  if (!Array.isArray(files)) throw argError('readLogs(paths)', 'an array of paths', files);
  return files.map((f) => readLog(f));
}
