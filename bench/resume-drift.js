#!/usr/bin/env node
/*
 * How far a resumed second-order run is from the uninterrupted one (issue 15), on the main job's
 * problem (Darcy 1-D, MLP 33-64-64-31, 1000 samples): each preset runs N iterations straight, then
 * again stopped at N/2 with a checkpoint and resumed, once keeping only 11 points of the L-BFGS
 * matrix (lmvm's history + 1: the (s, y) pairs are restored, TAO's diagonal scaling is rebuilt
 * from them) and once with the default (every point since the matrix's last reset: bit for bit). Reported: the largest relative difference of the
 * loss over the resumed records, and of the final loss and test error.
 * Run:  npx tsc -p tsconfig.json && node bench/resume-drift.js      (N=40 by default)
 */
'use strict';
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const tf = require('@tensorflow/tfjs');
const { createSolver, createTfjsFunction, initBackend } = require(path.join(__dirname, '..', 'dist'));
const { darcy1d } = require(path.join(__dirname, '..', 'dist', 'problems'));

const N = Number(process.env.N || 40);

async function main() {
  await initBackend({ quiet: true });
  const data = darcy1d({ train: 1000, test: 200, seed: 1234 });
  const make = () => tf.sequential({ layers: [
    tf.layers.dense({ inputShape: [data.points], units: 64, activation: 'tanh', kernelInitializer: tf.initializers.glorotNormal({ seed: 1234 }) }),
    tf.layers.dense({ units: 64, activation: 'tanh', kernelInitializer: tf.initializers.glorotNormal({ seed: 1235 }) }),
    tf.layers.dense({ units: data.points - 2, kernelInitializer: tf.initializers.glorotNormal({ seed: 1236 }) }),
  ] });
  const fn = await createTfjsFunction({ model: make(), loss: 'mse', data: data.train, quiet: true });
  const start = fn.initialParameters();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pml-drift-'));
  const test = { data: { x: data.test.x, y: data.test.y } };
  console.log(`machine: ${os.cpus()[0].model}, ${os.cpus().length} cores; ${new Date().toISOString().slice(0, 10)}; Darcy MLP ${fn.size} parameters, ${N} iterations, stopped at ${N / 2}`);
  for (const preset of ['lbfgs', 'tr-gn', 'ls-gn', 'tr']) {
    const base = { preset, epochs: N, params: start, sharePrefix: true, test };
    const ref = createSolver(fn, base).solve();
    const row = [];
    for (const points of [11, undefined]) {
      const ck = path.join(dir, `${preset}-${points ?? 'default'}.ckpt`);
      const ac = new AbortController();
      createSolver(fn, { ...base, checkpoint: { path: ck, ...(points ? { lmvmPoints: points } : {}) }, signal: ac.signal,
        monitor: (r) => r.type === 'iteration' && r.iteration === N / 2 && ac.abort() }).solve();
      const res = createSolver(fn, { ...base, resume: ck }).solve();
      // Aligned at the resumed run's first record (ntr reports a rejected trial step under the
      // same iteration number as the step that follows it: the checkpoint is the later one).
      const first = ref.records.map((r) => r.iteration).lastIndexOf(res.records[0].iteration);
      let worst = 0;
      res.records.forEach((r, i) => {
        const a = ref.records[first + i]?.loss;
        if (a !== undefined) worst = Math.max(worst, Math.abs(r.loss - a) / Math.abs(a));
      });
      const rel = (a, b) => (Math.abs(a - b) / Math.abs(a)).toExponential(1);
      row.push(`${points ? `lmvmPoints ${points}` : 'default lmvmPoints (all)'}: loss max rel. diff ${worst.toExponential(1)}, final loss ${rel(ref.summary.loss, res.summary.loss)}, final test MRE ${rel(ref.summary.testMetric, res.summary.testMetric)}`);
    }
    console.log(`${preset.padEnd(6)} final loss ${ref.summary.loss.toExponential(3)}; ${row.join('; ')}`);
  }
  fs.rmSync(dir, { recursive: true, force: true });
}
main().catch((e) => { console.error(e); process.exit(1); });
