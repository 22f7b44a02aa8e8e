/**
 * Checkpoint files of a training run: everything a killed or interrupted run needs to continue
 * where it stopped (see `checkpoint` and `resume` in SolverOptions).
 *
 * Layout: one text line `PETSCML-CHECKPOINT <version>`, one line of JSON (what the run is, how far
 * it got, the solver's scalars, and the name, offset and length of every array), then the arrays
 * as little-endian float64, with the SHA-256 of those bytes in the JSON. Written atomically: a
 * temporary file in the same directory, fsync, rename, fsync of the directory, so a kill at any
 * instant leaves either the previous checkpoint or the new one, never a torn file.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { RecordCounts } from '../monitor/record';

export const CHECKPOINT_VERSION = 1;
const MAGIC = 'PETSCML-CHECKPOINT';

/** What a checkpoint belongs to; a resumed run must match each field. */
export interface CheckpointIdentity {
  parameters: number;
  preset: string;
  taoType: string;
  hessian: string;
  batchesPerEpoch: number;
  samples: number | null;
  ranks: number;
  precision: string | null;
  /** The solver's effective options, except the iteration budget (a resumed run may extend it). */
  options: Record<string, string>;
}

/** How far the run got: the record of `iteration` is the first one the resumed run computes. */
export interface CheckpointProgress {
  iteration: number;
  /** That record's oracle calls, counts and time, which the resumed run's records continue from. */
  oracleCalls: number;
  counts: RecordCounts;
  time: number;
  /** That record's step length (a fresh solve reports its first step as 1). */
  stepLength?: number | null;
  /** Bytes of the log before that record (the resumed run truncates the log there and appends). */
  logOffset: number | null;
  /** Of the records before it: the summary's minima, the last test metric, the last losses. */
  minLoss: number | null;
  minTestMetric: number | null;
  lastMetric: number | null;
  recentLosses: number[];
}

/** The solver's own state at that iteration's start. */
export interface CheckpointSolverState {
  /** adam, adamw, sgd: the run's step and bias-correction powers (moments in arrays m, v). */
  firstOrder?: { step: number; power1: number; power2: number };
  /** ntr, nls: the trust-region radius in force for the next iteration. */
  trustRadius?: number;
  /** The Eisenstat-Walker forcing term's state. */
  forcing?: { prevGnorm: number | null; eta: number };
  /** lmvm, and nls/ntr with an L-BFGS preconditioner: (x, g) points replayed into the matrix, oldest first (arrays lmvm.x.i, lmvm.g.i). */
  lmvmPoints?: number;
}

export interface Checkpoint {
  version: number;
  written: string;
  petscmlVersion: string;
  label: string;
  identity: CheckpointIdentity;
  progress: CheckpointProgress;
  state: CheckpointSolverState;
  arrays: Record<string, Float64Array>;
}

/** The file's description line: the arrays by offset and length, and their checksum. */
interface Stored extends Omit<Checkpoint, 'arrays'> {
  arrays: Record<string, { offset: number; length: number }>;
  sha256: string;
}

/** Writes `c` to `file` atomically (see the module comment). */
export function writeCheckpoint(file: string, c: Omit<Checkpoint, 'version' | 'written'>): void {
  const dir = path.dirname(path.resolve(file));
  const layout: Stored['arrays'] = {};
  let offset = 0;
  const parts: Buffer[] = [];
  for (const [name, a] of Object.entries(c.arrays)) {
    layout[name] = { offset, length: a.length };
    const b = Buffer.from(a.buffer, a.byteOffset, a.byteLength);
    parts.push(b);
    offset += b.length;
  }
  const hash = createHash('sha256');
  for (const p of parts) hash.update(p);
  const stored: Stored = {
    version: CHECKPOINT_VERSION, written: new Date().toISOString(), petscmlVersion: c.petscmlVersion, label: c.label,
    identity: c.identity, progress: c.progress, state: c.state, arrays: layout, sha256: hash.digest('hex'),
  };
  const head = Buffer.from(`${MAGIC} ${CHECKPOINT_VERSION}\n${JSON.stringify(stored)}\n`, 'utf8');
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.tmp`);
  let fd: number | undefined;
  try {
    fs.mkdirSync(dir, { recursive: true });
    fd = fs.openSync(tmp, 'w');
    for (const b of [head, ...parts]) {
      let done = 0;
      while (done < b.length) done += fs.writeSync(fd, b, done, b.length - done);
    }
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = undefined;
    fs.renameSync(tmp, file);
  } catch (e) {
    try {
      if (fd !== undefined) fs.closeSync(fd);
      fs.rmSync(tmp, { force: true });
    } catch {
      // Nothing was created, or nothing more can be done: the error below says why.
    }
    throw new Error(`petscml: cannot write the checkpoint ${file}: ${(e as Error).message}`, { cause: e });
  }
  // The rename is durable once the directory is.
  try {
    const d = fs.openSync(dir, 'r');
    try {
      fs.fsyncSync(d);
    } finally {
      fs.closeSync(d);
    }
  } catch {
    // Some file systems cannot fsync a directory; the rename itself is still atomic.
  }
}

/** Reads a checkpoint, refusing a file that is not one, is from another version, or is corrupt. */
export function readCheckpoint(file: string): Checkpoint {
  let data: Buffer;
  try {
    data = fs.readFileSync(file);
  } catch (e) {
    throw new Error(`petscml: cannot read the checkpoint ${file}: ${(e as Error).message}`, { cause: e });
  }
  const bad = (why: string) => new Error(`petscml: ${file} is not a usable petscml checkpoint: ${why}`);
  const nl1 = data.indexOf(10);
  const first = data.subarray(0, nl1 < 0 ? Math.min(data.length, 64) : nl1).toString('utf8');
  const m = /^PETSCML-CHECKPOINT (\d+)$/.exec(first);
  if (!m) throw bad('it does not start with the checkpoint header');
  const version = Number(m[1]);
  if (version !== CHECKPOINT_VERSION) {
    throw bad(`it has format version ${version}; this petscml reads version ${CHECKPOINT_VERSION}`);
  }
  const nl2 = data.indexOf(10, nl1 + 1);
  if (nl2 < 0) throw bad('it is truncated (no end to its description)');
  let stored: Stored;
  try {
    stored = JSON.parse(data.subarray(nl1 + 1, nl2).toString('utf8')) as Stored;
  } catch (e) {
    throw bad(`its description is not valid JSON (${(e as Error).message})`);
  }
  for (const k of ['identity', 'progress', 'state', 'arrays', 'sha256'] as const) {
    if (stored === null || typeof stored !== 'object' || stored[k] === undefined) throw bad(`its description has no '${k}'`);
  }
  const body = data.subarray(nl2 + 1);
  const total = Object.values(stored.arrays).reduce((s, a) => Math.max(s, a.offset + 8 * a.length), 0);
  if (body.length !== total) throw bad(`it is truncated or padded (${body.length} bytes of arrays, ${total} expected)`);
  const sha = createHash('sha256').update(body).digest('hex');
  if (sha !== stored.sha256) throw bad('its arrays do not match their checksum (the file is corrupt)');
  const arrays: Record<string, Float64Array> = {};
  for (const [name, { offset, length }] of Object.entries(stored.arrays)) {
    const a = new Float64Array(length);
    Buffer.from(a.buffer).set(body.subarray(offset, offset + 8 * length));
    arrays[name] = a;
  }
  return {
    version, written: stored.written, petscmlVersion: stored.petscmlVersion, label: stored.label,
    identity: stored.identity, progress: stored.progress, state: stored.state, arrays,
  };
}

/** Throws naming every field in which the checkpoint's run differs from this one. */
export function checkIdentity(file: string, saved: CheckpointIdentity, now: CheckpointIdentity): void {
  const show = (v: unknown) => (v === null || v === undefined ? 'none' : typeof v === 'string' ? `'${v}'` : String(v));
  const what: Record<keyof Omit<CheckpointIdentity, 'options'>, string> = {
    parameters: 'parameter count', preset: 'preset', taoType: 'TAO type', hessian: 'Hessian products',
    batchesPerEpoch: 'mini-batches per epoch', samples: 'training samples', ranks: 'MPI ranks', precision: 'precision',
  };
  const diffs: string[] = [];
  for (const k of Object.keys(what) as (keyof typeof what)[]) {
    if (saved[k] !== now[k]) diffs.push(`${what[k]}: ${show(saved[k])} in the checkpoint, ${show(now[k])} now`);
  }
  const keys = new Set([...Object.keys(saved.options ?? {}), ...Object.keys(now.options)]);
  for (const k of [...keys].sort()) {
    const a = saved.options?.[k], b = now.options[k];
    if (a !== b) diffs.push(`option ${k}: ${show(a)} in the checkpoint, ${show(b)} now`);
  }
  if (diffs.length) {
    throw new Error(`petscml: cannot resume from ${file}: it is a checkpoint of another run (${diffs.join('; ')})`);
  }
}

/**
 * Throws unless every array and number the resumed solve will use is there and in range: a
 * description edited by hand (or by another version) must fail here, by name, not deep in a solve.
 */
export function checkContents(file: string, c: Checkpoint, size: number): void {
  const bad = (why: string) => new Error(`petscml: ${file} is not a usable petscml checkpoint: ${why}`);
  const need = (name: string) => {
    const a = c.arrays[name];
    if (!a) throw bad(`it has no array '${name}'`);
    if (a.length !== size) throw bad(`its array '${name}' has ${a.length} values, the function has ${size} parameters`);
    const i = a.findIndex((v) => !Number.isFinite(v));
    if (i >= 0) throw bad(`its array '${name}' holds ${a[i]} at ${i}`);
  };
  const count = (what: string, v: unknown) => {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) throw bad(`${what} is ${JSON.stringify(v)}, not a count`);
  };
  const p = c.progress;
  count('progress.iteration', p.iteration);
  if (typeof p.oracleCalls !== 'number' || !(p.oracleCalls >= 0)) throw bad(`progress.oracleCalls is ${JSON.stringify(p.oracleCalls)}`);
  if (typeof p.time !== 'number' || !(p.time >= 0)) throw bad(`progress.time is ${JSON.stringify(p.time)}`);
  if (p.logOffset !== null) count('progress.logOffset', p.logOffset);
  need('x');
  const fo = c.state.firstOrder;
  if (fo) {
    count('state.firstOrder.step', fo.step);
    for (const k of ['power1', 'power2'] as const) {
      if (typeof fo[k] !== 'number' || !(fo[k] >= 0 && fo[k] <= 1)) throw bad(`state.firstOrder.${k} is ${JSON.stringify(fo[k])}, not in [0, 1]`);
    }
    need('m');
    if (c.arrays.v) need('v');
  }
  if (c.state.trustRadius !== undefined && !(c.state.trustRadius > 0 && Number.isFinite(c.state.trustRadius))) {
    throw bad(`state.trustRadius is ${JSON.stringify(c.state.trustRadius)}`);
  }
  const n = c.state.lmvmPoints ?? 0;
  count('state.lmvmPoints', n);
  for (let i = 0; i < n; i++) {
    need(`lmvm.x.${i}`);
    need(`lmvm.g.${i}`);
  }
}

