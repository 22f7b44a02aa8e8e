import { describe, expect, it } from 'vitest';
import type { HeaderRecord, IterationRecord, SummaryRecord } from '../../src/monitor/record';
import { formatSummaryTable, summarizeRun } from '../../src/monitor/summary';

const header = (solver: string, metric?: string): HeaderRecord => ({
  type: 'header',
  solver,
  taoType: 'ntr',
  prefix: '',
  hessian: 'gauss-newton',
  parameters: 10,
  batchesPerEpoch: 1,
  ...(metric ? { metric } : {}),
  options: {},
  ranks: 1,
  started: '2024-01-01T00:00:00Z',
  petscmlVersion: '0.1.0',
});
const counts = (k: number) => ({ objective: k, gradient: 2 * k, objectiveAndGradient: 3 * k, hessian: k, hessianProducts: 10 * k, kspIterations: 10 * k });
const it_ = (i: number, loss: number, testMetric: number | null = null): IterationRecord => ({
  type: 'iteration',
  iteration: i,
  epoch: i / 2,
  loss,
  gradNorm: 1,
  testMetric,
  counts: counts(i),
  oracleCalls: 7 * i,
  trustRadius: null,
  stepLength: null,
  time: 1.5 * i,
});
const summary: SummaryRecord = {
  type: 'summary',
  iterations: 40,
  epochs: 40,
  loss: 3.25e-6,
  minLoss: 3.25e-6,
  gradNorm: 1e-9,
  testMetric: 4.5e-5,
  minTestMetric: 4.5e-5,
  oracleCalls: 1234,
  counts: counts(40),
  reason: 'CONVERGED_GATOL',
  converged: true,
  time: 12.345,
};

const finished = { header: header('TR-GN', 'mse'), iterations: [it_(0, 1), it_(40, 3.25e-6, 4.5e-5)], summary };
// Killed after iteration 3: no summary; its minimum is not its last loss.
const killed = { header: header('Adam', 'mse'), iterations: [it_(0, 1, 0.9), it_(1, 0.25), it_(2, 0.0625, 0.05), it_(3, 0.125)] };

describe('summary table', () => {
  it('summarizes a killed run from its iterations', () => {
    expect(summarizeRun(killed)).toEqual({
      solver: 'Adam',
      iterations: 3,
      epochs: 1.5,
      finalLoss: 0.125,
      minLoss: 0.0625,
      testMetric: 0.05,
      metric: 'mse',
      oracleCalls: 21,
      counts: counts(3),
      time: 4.5,
      reason: 'killed',
      explanation: 'the log ends without a summary: the run was killed or is still running',
    });
  });

  it('aligns plain-text columns', () => {
    expect(formatSummaryTable([finished, killed])).toBe(
      [
        'solver  iters  epochs  final loss  min loss  test mse  oracle calls   f   g  f+g   Hv  time (s)  reason',
        '------  -----  ------  ----------  --------  --------  ------------  --  --  ---  ---  --------  ---------------',
        'TR-GN      40      40     3.25e-6   3.25e-6   4.50e-5          1234  40  80  120  400      12.3  CONVERGED_GATOL',
        'Adam        3    1.50       0.125    0.0625      0.05            21   3   6    9   30      4.50  killed',
        '',
        // the finished run's summary predates explanations: no line for it
        'Adam: the log ends without a summary: the run was killed or is still running',
        '',
      ].join('\n'),
    );
  });

  it('writes Markdown for BENCHMARKS.md', () => {
    const md = formatSummaryTable([finished, { header: header('L|BFGS'), iterations: [it_(0, 2)] }], { format: 'markdown' });
    const lines = md.trimEnd().split('\n');
    expect(lines[0]).toBe('| solver | iters | epochs | final loss | min loss | test mse | oracle calls | f | g | f+g | Hv | time (s) | reason |');
    expect(lines[1]).toBe('|:---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|:---|');
    expect(lines[3]).toBe('| L\\|BFGS | 0 | 0 | 2 | 2 | - | 0 | 0 | 0 | 0 | 0 | 0.00 | killed |');
    expect(lines[5]).toBe('- L\\|BFGS: the log ends without a summary: the run was killed or is still running');
    expect(lines).toHaveLength(6);
  });

  it('says under the table why each run stopped, with the hint', () => {
    const why = { ...summary, reason: 'DIVERGED_TR_REDUCTION', converged: false, explanation: 'the trust region shrank', hint: 'float32' };
    const text = formatSummaryTable([{ ...finished, summary: why }]);
    expect(text.trimEnd().split('\n').pop()).toBe('TR-GN: the trust region shrank; hint: float32');
  });

  it('refuses what is not a run', () => {
    expect(() => formatSummaryTable([{}] as never)).toThrow(/^petscml: summarizeRun\(run\): expected a run with a header record/);
    expect(() => formatSummaryTable([], { format: 'html' as never })).toThrow(/expected 'text' or 'markdown', got "html"/);
  });
});
