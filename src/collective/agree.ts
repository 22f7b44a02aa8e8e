/**
 * Collective agreement on a configuration, before anything collective depends on it.
 *
 * A data-parallel run only works when every rank builds the same solver: ranks given different
 * iteration budgets, solver types or parameter counts call different collectives and hang (or
 * fail with MPI_ERR_TRUNCATE, or crash in PETSc). And a rank whose own validation throws before a
 * collective leaves the others waiting in it forever. So every rank validates locally without
 * throwing, then all take part in the same fixed sequence of allreduces here: a failure flag and
 * one hash per field. A failure or a mismatch throws on EVERY rank, with the values each rank
 * had, so nothing hangs and every rank's message names the problem.
 *
 * Only the world's allreduce (sum, min, max over float64; src/collective) is used: strings are gathered by
 * giving each rank its own slot of a zero vector and summing.
 */
import { collective, world } from './index';

const allreduce = (values: ArrayLike<number>, op: 'sum' | 'min' | 'max') => collective().allreduce(values, op);
const comm = () => world();

/** 32-bit FNV-1a of a string: exact in a float64, so min and max over the ranks compare it. */
export function hash32(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/** A short fingerprint of a float64 vector (every bit counts), for comparing starts across ranks. */
export function vectorFingerprint(v: ArrayLike<number>): string {
  const a = Float64Array.from(v);
  const bytes = new Uint32Array(a.buffer);
  let h = 0x811c9dc5;
  for (let i = 0; i < bytes.length; i++) {
    h ^= bytes[i];
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  const head = Array.from(a.subarray(0, 3), (x) => Number(x.toPrecision(6)));
  return `${a.length} values [${head.join(', ')}${a.length > 3 ? ', ...' : ''}] checksum ${(h >>> 0).toString(16).padStart(8, '0')}`;
}

const MAX_CHARS = 2000;

/** Every rank's string, in rank order (collective; strings longer than 2000 characters are cut). */
export function gatherStrings(s: string): string[] {
  const { rank, size } = comm();
  const text = s.length > MAX_CHARS ? s.slice(0, MAX_CHARS - 1) + '…' : s;
  if (size === 1) return [text];
  const len = allreduce([text.length], 'max')[0];
  const buf = new Float64Array(size * (len + 1));
  // Slot layout: length, then UTF-16 code units (all exact in float64).
  const base = rank * (len + 1);
  buf[base] = text.length;
  for (let i = 0; i < text.length; i++) buf[base + 1 + i] = text.charCodeAt(i);
  const all = allreduce(buf, 'sum');
  const out: string[] = [];
  for (let r = 0; r < size; r++) {
    const b = r * (len + 1);
    const n = all[b];
    let t = '';
    for (let i = 0; i < n; i++) t += String.fromCharCode(all[b + 1 + i]);
    out.push(t);
  }
  return out;
}

function describeValue(v: unknown): string {
  if (v === undefined) return 'none';
  if (typeof v === 'string') return v === '' ? "''" : v;
  return JSON.stringify(v) ?? String(v);
}

/** "rank 0 has 3, rank 1 has 30" (ranks with the same value grouped, at most 6 groups). */
function whoHasWhat(values: string[]): string {
  const groups = new Map<string, number[]>();
  values.forEach((v, r) => {
    const g = groups.get(v);
    if (g) g.push(r);
    else groups.set(v, [r]);
  });
  const parts = [...groups].slice(0, 6).map(([v, ranks]) => {
    const who = ranks.length === 1 ? `rank ${ranks[0]}` : ranks.length <= 4 ? `ranks ${ranks.join(', ')}` : `ranks ${ranks[0]}-${ranks[ranks.length - 1]} (${ranks.length})`;
    return `${who} ${ranks.length === 1 ? 'has' : 'have'} ${v}`;
  });
  if (groups.size > 6) parts.push(`and ${groups.size - 6} more values`);
  return parts.join(', ');
}

/** Raised on every rank when the ranks' configurations differ, or another rank failed to configure. */
export class RankAgreementError extends Error {
  /** The fields that differ (empty when another rank failed instead). */
  readonly fields: string[];
  /** Ranks whose own validation failed. */
  readonly failedRanks: number[];
  constructor(message: string, fields: string[], failedRanks: number[]) {
    super(message);
    this.name = 'RankAgreementError';
    this.fields = fields;
    this.failedRanks = failedRanks;
  }
}

/**
 * Collective. `fields` must list the same names in the same order on every rank (fixed by the
 * caller's code); `values` holds this rank's value for each, or is undefined when `localError` is
 * set (this rank could not compute its configuration). On one rank: throws localError, if any.
 *
 * Throws on every rank when any rank failed (the failing ranks rethrow their own error, the others
 * a RankAgreementError naming the failing ranks and their messages) or when a field differs
 * ("ranks disagree on epochs: rank 0 has 3, rank 1 has 30"). `derived` fields are named only when
 * no other field differs.
 */
export function agreeAcrossRanks(where: string, fields: readonly string[], values: readonly unknown[] | undefined, localError?: unknown,
  derived: readonly string[] = []): void {
  const { size } = comm();
  if (size === 1) {
    if (localError !== undefined) throw localError;
    return;
  }
  const failed = localError !== undefined || values === undefined;
  const texts = fields.map((_, i) => (failed ? '' : describeValue(values![i])));
  const hashes = texts.map(hash32);
  // One allreduce: the failure flag, each hash, each negated hash (max of -h is -min h).
  const ext = allreduce([failed ? 1 : 0, ...hashes, ...hashes.map((h) => -h)], 'max');
  if (ext[0] > 0) {
    const mine = failed ? (localError instanceof Error ? localError.message : String(localError ?? 'no configuration')) : '';
    const messages = gatherStrings(mine);
    const failedRanks = messages.map((m, r) => (m ? r : -1)).filter((r) => r >= 0);
    if (failed && localError !== undefined) throw localError;
    const detail = failedRanks.slice(0, 4).map((r) => `rank ${r}: ${messages[r].replace(/^petscml: /, '')}`).join('; ');
    throw new RankAgreementError(`petscml: ${where}: ${failedRanks.length === 1 ? `rank ${failedRanks[0]} failed` : `ranks ${failedRanks.join(', ')} failed`} ` +
      `to configure, so no rank goes on (${detail})`, [], failedRanks);
  }
  let differ = fields.map((_, i) => i).filter((i) => ext[1 + i] !== -ext[1 + fields.length + i]);
  if (differ.length === 0) return;
  // Fields that follow from others (the options from the epochs) are named only on their own.
  const primary = differ.filter((i) => !derived.includes(fields[i]));
  if (primary.length) differ = primary;
  // Every rank computed the same `differ` from the same reduced vector, so these gathers match.
  const parts = differ.map((fi) => `${fields[fi]}: ${whoHasWhat(gatherStrings(texts[fi]))}`);
  throw new RankAgreementError(`petscml: ${where}: ranks disagree on ${parts.join('; ')}. ` +
    'Every rank must build the same solver (same script arguments and data layout on every rank)', differ.map((i) => fields[i]), []);
}

/**
 * Collective failure agreement only: every rank throws when any rank's `localError` is set.
 * For steps after the configuration is agreed, where one rank can still fail on its own.
 */
export function agreeOnFailure(where: string, localError?: unknown): void {
  agreeAcrossRanks(where, [], [], localError);
}
