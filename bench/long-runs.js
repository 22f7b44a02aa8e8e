#!/usr/bin/env node
/*
 * What long-run features cost (issue 15), on the reference MLP (64-256-256-64, 98,880 parameters,
 * batch 1000, tanh, MSE) on the default backend:
 *   1. a checkpoint: L-BFGS (lmvm, history 10) and Adam runs without a checkpoint and with one
 *      written every iteration; the difference per written checkpoint, its size, and the time of
 *      one f+g for scale. Interleaved repetitions, medians.
 *   2. an asynchronous callback: a cheap objective (50 parameters) solved by lmvm with solve()
 *      and with solveAsync(); the difference per callback is the marshalling cost.
 * Run:  npx tsc -p tsconfig.json && node bench/long-runs.js        (REPS=5 by default)
 */
'use strict';
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const tf = require('@tensorflow/tfjs');
const { createSolver, createTfjsFunction, initBackend, Tao, Vec } = require(path.join(__dirname, '..', 'dist'));

const REPS = Number(process.env.REPS || 5);
const median = (a) => [...a].sort((x, y) => x - y)[a.length >> 1];

async function main() {
  await initBackend({ quiet: true });
  let seed = 1;
  const rnd = () => { seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0; return (seed / 2 ** 32) * 2 - 1; };
  const sizes = [64, 256, 256, 64], B = 1000;
  const model = tf.sequential({ layers: sizes.slice(1).map((u, i) => tf.layers.dense({
    ...(i === 0 ? { inputShape: [sizes[0]] } : {}), units: u, activation: i < sizes.length - 2 ? 'tanh' : 'linear',
    kernelInitializer: tf.initializers.glorotNormal({ seed: 10 + i }),
  })) });
  const x = Float32Array.from({ length: B * sizes[0] }, rnd), y = Float32Array.from({ length: B * sizes[3] }, rnd);
  const data = { x: { values: x, shape: [B, sizes[0]] }, y: { values: y, shape: [B, sizes[3]] } };
  const full = await createTfjsFunction({ model, data, quiet: true });
  const batched = await createTfjsFunction({ model, data, quiet: true, batchSize: 100 });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pml-bench-'));
  const start = full.initialParameters();
  const g = new Float64Array(full.size);
  const fg = [];
  for (let i = 0; i < 10; i++) { const t = performance.now(); full.objectiveAndGradient(start, g); fg.push(performance.now() - t); }

  console.log(`machine: ${os.cpus()[0].model}, ${os.cpus().length} cores; ${new Date().toISOString().slice(0, 10)}; backend ${full.backend.name}; ` +
    `reference MLP ${full.size} parameters, f+g ${median(fg).toFixed(1)} ms`);
  const runs = [['lbfgs', full, 20], ['adam', batched, 4]];
  for (const [preset, fn, epochs] of runs) {
    const iters = epochs * (fn.batchCount ?? 1);
    const t = { off: [], on: [] };
    let bytes = 0;
    for (let r = 0; r < REPS; r++) {
      for (const mode of ['off', 'on']) {
        const ck = path.join(dir, `${preset}.ckpt`);
        const s = createSolver(fn, { preset, epochs, params: start, sharePrefix: true, ...(mode === 'on' ? { checkpoint: { path: ck, every: 1 } } : {}) });
        const t0 = performance.now();
        const res = s.solve();
        t[mode].push((performance.now() - t0) / res.summary.iterations);
        s.destroy();
        if (mode === 'on') bytes = fs.statSync(ck).size;
      }
    }
    const off = median(t.off), on = median(t.on);
    console.log(`checkpoint every iteration, ${preset} (${iters} iterations): ${off.toFixed(2)} ms/iteration without, ${on.toFixed(2)} with: ` +
      `${(on - off).toFixed(2)} ms per checkpoint (${(bytes / 2 ** 20).toFixed(2)} MiB), ${((on - off) / median(fg)).toFixed(2)} f+g`);
  }

  const n = 50;
  const cheap = (v, gr) => { let f = 0; for (let i = 0; i < n; i++) { const d = v[i] - 1; f += (i + 1) * d * d + d ** 4; gr[i] = 2 * (i + 1) * d + 4 * d ** 3; } return f; };
  const per = { sync: [], async: [] };
  for (let r = 0; r < REPS; r++) {
    for (const mode of ['sync', 'async']) {
      const tao = new Tao({ type: 'adam' });
      const xv = Vec.create(n);
      let calls = 0;
      tao.setSolution(xv).setObjectiveAndGradient((v, gr) => { calls++; return cheap(v, gr); });
      tao.setTolerances({ gatol: 0, grtol: 0, gttol: 0 });
      tao.maxIterations = 20000;
      const t0 = performance.now();
      if (mode === 'sync') tao.solve();
      else await tao.solveAsync();
      per[mode].push(((performance.now() - t0) * 1000) / calls);
      tao.destroy();
      xv.destroy();
    }
  }
  const s = median(per.sync), a = median(per.async);
  console.log(`async callback: ${s.toFixed(1)} us per callback with solve(), ${a.toFixed(1)} us with solveAsync(): ${(a - s).toFixed(1)} us of marshalling per callback (adam, ${n} parameters, 20,000 steps)`);
  fs.rmSync(dir, { recursive: true, force: true });
}
main().catch((e) => { console.error(e); process.exit(1); });
