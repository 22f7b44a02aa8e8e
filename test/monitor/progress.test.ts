import { describe, expect, it } from 'vitest';
import { ProgressReporter, formatNumber, isCI } from '../../src/monitor/progress';
import type { IterationRecord, SummaryRecord } from '../../src/monitor/record';

class FakeStream {
  chunks: string[] = [];
  constructor(
    public isTTY: boolean,
    public columns?: number,
  ) {}
  write(s: string): boolean {
    this.chunks.push(s);
    return true;
  }
  get text(): string {
    return this.chunks.join('');
  }
}

const counts = { objective: 0, gradient: 0, objectiveAndGradient: 0, hessian: 0, hessianProducts: 0, kspIterations: 0 };
const rec = (i: number, over: Partial<IterationRecord> = {}): IterationRecord => ({
  type: 'iteration',
  iteration: i,
  epoch: i,
  loss: 1 / (i + 1),
  gradNorm: 1,
  testMetric: null,
  counts,
  oracleCalls: 3 * i,
  trustRadius: null,
  stepLength: null,
  time: i / 50,
  ...over,
});

/** A clock the test moves by hand, in milliseconds. */
function clock(start = 1000) {
  let t = start;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

describe('ProgressReporter on a terminal', () => {
  it('rewrites one line in place, at most 10 times a second, and ends it on finish', () => {
    const s = new FakeStream(true);
    const c = clock();
    const p = new ProgressReporter({ stream: s, label: 'TR-GN', metric: 'mse', now: c.now, env: {} });
    expect(p.live).toBe(true);
    // 1000 iterations in one simulated second: 1 ms apart.
    for (let i = 0; i < 1000; i++) {
      p.update(rec(i, { testMetric: i === 500 ? 0.125 : null }));
      c.advance(1);
    }
    const draws = s.chunks.filter((ch) => ch.startsWith('\r\x1b[2K'));
    expect(draws.length).toBeGreaterThanOrEqual(10);
    expect(draws.length).toBeLessThanOrEqual(11);
    expect(s.text).not.toContain('\n');
    expect(p.lineOpen).toBe(true);
    expect(draws[0]).toBe('\r\x1b[2KTR-GN  it 0  epoch 0  loss 1  oracle 0');
    p.finish();
    p.finish();
    // The final state is drawn even if the throttle skipped it, then the line is ended.
    expect(s.chunks.slice(-2)).toEqual(['\r\x1b[2KTR-GN  it 999  epoch 999  loss 0.001  mse 0.125  oracle 2997  50 it/s', '\n']);
    expect(p.lineOpen).toBe(false);
    expect(() => p.update(rec(1000))).toThrow(/after finish/);
  });

  it('cuts the line to the terminal width so it never wraps', () => {
    const s = new FakeStream(true, 20);
    const p = new ProgressReporter({ stream: s, label: 'a-rather-long-label', env: {} });
    p.update(rec(3));
    expect(s.chunks[0]).toBe('\r\x1b[2K' + 'a-rather-long-label  it 3'.slice(0, 19));
  });

  it('prints plain lines under CI even on a TTY', () => {
    const s = new FakeStream(true);
    const p = new ProgressReporter({ stream: s, env: { CI: 'true' } });
    expect(p.live).toBe(false);
    p.update(rec(0));
    expect(s.text).toBe('it 0  epoch 0  loss 1  oracle 0\n');
    expect(new ProgressReporter({ stream: s, env: { CI: 'false' } }).live).toBe(true);
  });
});

describe('ProgressReporter in a pipe', () => {
  it('prints the first line, every N iterations and the last, with no control characters', () => {
    const s = new FakeStream(false);
    const c = clock();
    const p = new ProgressReporter({ stream: s, every: 100, now: c.now, env: {} });
    expect(p.live).toBe(false);
    for (let i = 0; i <= 250; i++) {
      p.update(rec(i, { epoch: i / 4 }));
      c.advance(1);
    }
    const summary: SummaryRecord = {
      type: 'summary',
      iterations: 250,
      epochs: 62.5,
      loss: 0.00398,
      minLoss: 0.00398,
      gradNorm: 1e-9,
      testMetric: null,
      minTestMetric: null,
      oracleCalls: 750,
      counts,
      reason: 'CONVERGED_GATOL',
      converged: true,
      time: 5,
    };
    p.finish(summary);
    const lines = s.text.split('\n');
    expect(lines.map((l) => l.split('  ')[0])).toEqual(['it 0', 'it 100', 'it 200', 'it 250', 'converged: CONVERGED_GATOL after 250 iterations, loss 0.00398, 5 s', '']);
    expect(lines[3]).toBe('it 250  epoch 62.50  loss 0.003984  oracle 750  50 it/s');
    // eslint-disable-next-line no-control-regex
    expect(s.text).not.toMatch(/[\x00-\x09\x0b-\x1f]/);
  });

  it('also prints when intervalSeconds pass between lines', () => {
    const s = new FakeStream(false);
    const c = clock();
    const p = new ProgressReporter({ stream: s, every: 1000, intervalSeconds: 5, now: c.now, env: {} });
    for (let i = 0; i < 10; i++) {
      p.update(rec(i));
      c.advance(2000);
    }
    // At 0 s, then each time 5 s have passed since the last line: iterations 0, 3, 6, 9.
    expect(s.text.split('\n').filter(Boolean).map((l) => l.split('  ')[0])).toEqual(['it 0', 'it 3', 'it 6', 'it 9']);
    p.finish();
    // The last iteration was already printed: finish adds nothing.
    expect(s.text.split('\n').filter(Boolean)).toHaveLength(4);
  });

  it('shows the latest test metric between evaluations', () => {
    const s = new FakeStream(false);
    const p = new ProgressReporter({ stream: s, every: 1, metric: 'rel-l2', env: {} });
    p.update(rec(0, { testMetric: 0.5 }));
    p.update(rec(1));
    expect(s.text.split('\n')[1]).toBe('it 1  epoch 1  loss 0.5  rel-l2 0.5  oracle 3  50 it/s');
  });

  it('refuses bad options', () => {
    expect(() => new ProgressReporter({ every: 0 })).toThrow(/^petscml: ProgressReporter\(\{ every \}\): expected a positive number, got 0/);
    expect(() => new ProgressReporter({ stream: {} as never })).toThrow(/expected a writable stream/);
    expect(() => new ProgressReporter({ stream: new FakeStream(false) }).update({} as never)).toThrow(/expected an IterationRecord/);
  });
});

describe('helpers', () => {
  it('isCI and formatNumber', () => {
    expect(isCI({})).toBe(false);
    expect(isCI({ CI: '1' })).toBe(true);
    expect(isCI({ CI: '0' })).toBe(false);
    expect(formatNumber(1.23456e-7)).toBe('1.23e-7');
    expect(formatNumber(0.012345)).toBe('0.01235');
    expect(formatNumber(123456)).toBe('1.23e+5');
    expect(formatNumber(null)).toBe('-');
    expect(formatNumber(NaN)).toBe('NaN');
  });
});

describe('ProgressReporter with mini-batches', () => {
  it('shows the training-set loss (the summary\'s number), not the last mini-batch\'s', () => {
    const s = new FakeStream(false);
    const p = new ProgressReporter({ stream: s, label: 'Adam', every: 1, now: clock().now, env: { CI: '1' } });
    p.update(rec(0, { loss: 0.5, trainLoss: 0.25 }));
    p.update(rec(1, { loss: 0.125, trainLoss: null }));
    expect(p.format(rec(2, { loss: 0.0625, trainLoss: null }))).toContain('loss 0.25');
    expect(s.text).not.toContain('loss 0.125');
    // a function without mini-batches has no trainLoss: its loss is the training-set loss
    expect(new ProgressReporter({ stream: s, env: {} }).format(rec(3, { loss: 0.03125, trainLoss: undefined as never }))).toContain('loss 0.03125');
  });
});
