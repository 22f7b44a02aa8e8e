// `petscml reproduce --precision float64` (issue 14): every run computes in double on
// petscml-float64, from the same start as the float32 runs to float32 rounding. Its own file:
// the backend is process-global, and a float64 backend left active would change the other tests.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readLog } from '../../src/monitor';
import { reproduceBurgers, reproduceGreenLearning } from '../../src/reproduce';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pml-repro64-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('reproduce in float64', () => {
  it('burgers (FNO-1D, loss eq. 6) and greenlearning (rational activations, normalised output) at the tiny size', async () => {
    const quiet = { progress: false, say: () => {} };
    const b32 = await reproduceBurgers({ size: 'tiny', out: path.join(dir, 'b32'), solvers: ['tr-gn'], backend: 'petscml', ...quiet });
    const g32 = await reproduceGreenLearning({ size: 'tiny', out: path.join(dir, 'g32'), solvers: ['tr-gn'], backend: 'petscml', ...quiet });
    const b64 = await reproduceBurgers({ size: 'tiny', out: path.join(dir, 'b64'), solvers: ['tr-gn'], precision: 'float64', ...quiet });
    const g64 = await reproduceGreenLearning({ size: 'tiny', out: path.join(dir, 'g64'), solvers: ['tr-gn'], precision: 'float64', ...quiet });
    for (const [r32, r64, out] of [[b32, b64, 'b64'], [g32, g64, 'g64']] as const) {
      for (const name of ['ref', 'tr-gn']) {
        expect(readLog(path.join(dir, out, `${name}.jsonl`)).header.precision).toBe('float64');
      }
      const results = JSON.parse(fs.readFileSync(path.join(dir, out, 'results.json'), 'utf8'));
      expect(results.backend).toBe('petscml-float64');
      // The same weights and data: the full-batch loss at the start agrees to float32 rounding,
      // and is not the float32 value itself.
      const l32 = r32.runs[1].records[0].loss, l64 = r64.runs[1].records[0].loss;
      expect(Math.abs(l64 - l32) / l64).toBeLessThan(1e-5);
      expect(l64).not.toBe(l32);
      expect(Number.isFinite(r64.headline.ratio)).toBe(true);
    }
  }, 240_000);

  it('refuses float64 on another backend, by name', async () => {
    await expect(reproduceBurgers({ size: 'tiny', out: path.join(dir, 'x'), precision: 'float64', backend: 'wasm', progress: false, say: () => {} }))
      .rejects.toThrow(/precision 'float64' runs on the petscml-float64 backend \(tfjs has no float64\), not on backend 'wasm'/);
    await expect(reproduceBurgers({ size: 'tiny', out: path.join(dir, 'x'), precision: 'half' as never, progress: false, say: () => {} }))
      .rejects.toThrow(/precision must be 'float32' or 'float64', got "half"/);
  });
});
