// Stop reasons in words: what each TAO reason means for the run, and the hints.
import { describe, expect, it } from 'vitest';
import { explainStop } from '../../src/monitor';

describe('explainStop', () => {
  it('tells a used-up epoch or oracle budget from a divergence', () => {
    expect(explainStop('DIVERGED_MAXITS', { iterations: 40, epochs: 40 }).explanation).toMatch(/^the 40 epochs it was given are done \(not a divergence/);
    expect(explainStop('DIVERGED_MAXITS', { iterations: 7, maxIterations: 7 }).explanation).toMatch(/iteration limit \(tao_max_it 7\) is reached/);
    expect(explainStop('ORACLE_BUDGET', { iterations: 9, budget: 80, oracleCalls: 116 }).explanation).toBe('the oracle-call budget of 80 is used up (116 calls)');
  });
  it('names a gradient that was never written', () => {
    const e = explainStop('CONVERGED_GATOL', { iterations: 0, gradNorm: 0 });
    expect(e.explanation).toBe('the gradient is exactly zero at the starting point');
    expect(e.hint).toMatch(/never writes g/);
    expect(explainStop('CONVERGED_GATOL', { iterations: 12, gradNorm: 1e-9 }).hint).toBeUndefined();
  });
  it('hints at float32 round-off when a second-order run stalls, and only then', () => {
    const flat = [0.0123456, 0.0123456 * (1 + 3e-7), 0.0123456 * (1 - 2e-7)];
    const moving = [0.02, 0.015, 0.0123];
    expect(explainStop('DIVERGED_TR_REDUCTION', { iterations: 30, recentLosses: flat }).hint).toMatch(/float32 round-off/);
    expect(explainStop('DIVERGED_TR_REDUCTION', { iterations: 30, recentLosses: moving }).hint).toBeUndefined();
    expect(explainStop('DIVERGED_LS_FAILURE', { iterations: 30, recentLosses: flat, firstOrder: true }).hint).toBeUndefined();
    expect(explainStop('DIVERGED_LS_FAILURE', { iterations: 3, taoType: 'nls', recentLosses: moving }).hint).toMatch(/try ls-gn/);
    expect(explainStop('DIVERGED_NAN', { iterations: 3 }).hint).toMatch(/learning rate/);
  });
  it('passes an unknown reason through', () => {
    expect(explainStop('SOMETHING_NEW', { iterations: 1 }).explanation).toBe("TAO's reason SOMETHING_NEW");
  });
});
