#!/usr/bin/env node
/*
 * Benchmark of the function layer on the default backend (PETSCML_BACKEND chooses another):
 *   MODEL=mlp (default): MLP 64-256-256-64 (98,880 parameters), batch 1000, tanh, MSE;
 *   MODEL=darcy: the main job's MLP, 33-64-64-31, batch 1000, tanh, MSE;
 *   MODEL=fno: one FNO-1D block (CASES.md 1.4): Fourier layer (width 64, 16 modes, s = 128, DFT
 *     matrix form) plus a 1x1 convolution and bias, GELU (tanh form), batch 20, MSE;
 *   MODEL=fno3d: the FNO-3D of `petscml reproduce navier-stokes` at its small size (16^2 grid,
 *     10 -> 10 snapshots, time padding 6, width 8, 4 modes, projection 32), batch 10, loss eq. 6.
 * Median times of f+g, exact Hv and Gauss-Newton v (products at one point, as in a CG solve, and the
 * first product at a new point, which records the point's linearization), GFLOP/s of f+g for the MLP (6 x batch x
 * parameters flops), and the same in PyTorch float32 when /usr/bin/python3 has torch (mlp, darcy, fno;
 * bench/functions_torch.py, 2 threads on Debian's OpenBLAS; bench/engine.js adds the other configurations).
 * bench/engine.js runs this for every backend and model in one run and prints the ratios.
 *
 * Run:  npx tsc -p tsconfig.json && node bench/functions.js   (uses dist/functions)
 */
'use strict';
const path = require('node:path');
const { execFileSync } = require('node:child_process');
const tf = require('@tensorflow/tfjs');
const { createTfjsFunction, dftBasis, fourierLayer1d, geluTanh } = require(path.join(__dirname, '..', 'dist', 'functions'));
const MODEL = process.env.MODEL || 'mlp';

// MODEL=darcy: the main job's MLP (33-64-64-31, batch 1,000, tanh).
const SIZES = process.env.MODEL === 'darcy' ? [33, 64, 64, 31] : [64, 256, 256, 64];
const BATCH = 1000;
const REPS = Number(process.env.REPS || 20);

function median(a) { const s = [...a].sort((x, y) => x - y); return s[s.length >> 1]; }
// Steady state, as in training: V8 compiles tfjs's code over the first hundreds of calls (on the
// other core, which the engine's threads then share); warm up for WARM_S seconds (at least 3
// calls), as bench/functions_torch.py does.
const WARM_S = Number(process.env.WARM_S || 1.5);
function time(f) { const w0 = performance.now(); for (let i = 0; i < 3 || performance.now() - w0 < WARM_S * 1e3; i++) f(); const t = []; for (let i = 0; i < REPS; i++) { const s = process.hrtime.bigint(); f(); t.push(Number(process.hrtime.bigint() - s) / 1e6); } return median(t); }

async function main() {
  let seed = 1;
  const rnd = () => { seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0; return seed / 2 ** 32 * 2 - 1; };
  const params = {};
  let fn;
  if (MODEL === 'fno3d') {
    const { fno3d } = require(path.join(__dirname, '..', 'dist', 'models'));
    const s = 16, B = 10, T = 10;
    const model = fno3d({ resolution: s, inputSteps: T, outputSteps: T, width: 8, modes: 4, projection: 32, seed: 1 });
    fn = await createTfjsFunction({
      model, loss: 'msre', quiet: true,
      data: { x: { values: Float32Array.from({ length: B * s * s * T }, rnd), shape: [B, s * s * T] },
        y: { values: Float32Array.from({ length: B * s * s * T }, () => 1 + rnd()), shape: [B, s * s * T] } },
    });
  }
  if (MODEL === 'fno') {
    const W = 64, M = 16, S = 128, B = 20;
    const basis = dftBasis(S, M);
    params.wRe = tf.tensor(Float32Array.from({ length: M * W * W }, () => rnd() / (W * W)), [M, W, W]);
    params.wIm = tf.tensor(Float32Array.from({ length: M * W * W }, () => rnd() / (W * W)), [M, W, W]);
    params.w = tf.tensor(Float32Array.from({ length: W * W }, () => rnd() / Math.sqrt(W)), [W, W]);
    params.b = tf.zeros([W]);
    fn = await createTfjsFunction({
      model: {
        params,
        apply: (p, x) => {
          const spectral = fourierLayer1d(x, p.wRe, p.wIm, basis);
          const local = tf.reshape(tf.matMul(tf.reshape(x, [B * S, W]), p.w), [B, S, W]);
          return geluTanh(tf.add(tf.add(spectral, local), p.b));
        },
      },
      loss: 'mse',
      data: { x: { values: Float32Array.from({ length: B * S * W }, rnd), shape: [B, S, W] },
        y: { values: Float32Array.from({ length: B * S * W }, rnd), shape: [B, S, W] } },
      quiet: true,
    });
  }
  for (let l = 0; (MODEL === 'mlp' || MODEL === 'darcy') && l < 3; l++) {
    params[`w${l}`] = tf.tensor(Float32Array.from({ length: SIZES[l] * SIZES[l + 1] }, () => rnd() / Math.sqrt(SIZES[l])), [SIZES[l], SIZES[l + 1]]);
    params[`b${l}`] = tf.zeros([SIZES[l + 1]]);
  }
  fn ??= await createTfjsFunction({
    model: {
      params,
      apply: (p, x) => {
        let h = x;
        for (let l = 0; l < 3; l++) { h = tf.add(tf.matMul(h, p[`w${l}`]), p[`b${l}`]); if (l < 2) h = tf.tanh(h); }
        return h;
      },
    },
    loss: 'mse',
    data: { x: { values: Float32Array.from({ length: BATCH * SIZES[0] }, rnd), shape: [BATCH, SIZES[0]] },
      y: { values: Float32Array.from({ length: BATCH * SIZES[3] }, rnd), shape: [BATCH, SIZES[3]] } },
  });
  const x = fn.initialParameters();
  const n = fn.size;
  const g = new Float64Array(n); const y = new Float64Array(n);
  const v = Float64Array.from({ length: n }, rnd);
  // A new point per call, as in a solver: folding and conversion are included in the timing.
  let k = 0;
  const fg = time(() => { x[0] = 1e-3 * (k++ % 7); fn.objectiveAndGradient(x, g); });
  const H = fn.hessian('exact'); H.setPoint(x);
  const hv = time(() => H.apply(v, y));
  const G = fn.hessian('gauss-newton'); G.setPoint(x);
  const gn = time(() => G.apply(v, y));
  // The first product at a new point, which records the point's linearization (once per CG solve).
  const hvFirst = time(() => { x[0] = 1e-3 * (k++ % 7); H.setPoint(x); H.apply(v, y); });
  const gnFirst = time(() => { x[0] = 1e-3 * (k++ % 7); G.setPoint(x); G.apply(v, y); });
  const gflops = MODEL === 'mlp' ? 6 * BATCH * n / (fg / 1e3) / 1e9 : undefined;
  const blas = fn.backend.name.startsWith('petscml') ? require(path.join(__dirname, '..', 'dist', 'engine')).blasCore() : null;
  const r = { model: MODEL, backend: fn.backend.name, blas, params: n, batch: MODEL === 'fno' ? 20 : MODEL === 'fno3d' ? 10 : BATCH, fg_ms: fg, hv_ms: hv, gn_ms: gn, hv_first_ms: hvFirst, gn_first_ms: gnFirst, hv_over_fg: hv / fg, gn_over_fg: gn / fg, fg_gflops: gflops };
  let torch = null;
  if (!['mlp', 'darcy', 'fno'].includes(MODEL) || process.env.NO_TORCH) torch = { skipped: process.env.NO_TORCH ? 'NO_TORCH' : 'not measured for this model' };
  else try {
    const out = execFileSync('/usr/bin/python3', [path.join(__dirname, 'functions_torch.py'), String(REPS)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, MODEL } });
    torch = JSON.parse(out.trim().split('\n').pop());
  } catch (e) {
    torch = { skipped: `PyTorch not available to /usr/bin/python3 (${String(e.message).split('\n')[0]})` };
  }
  if (torch && !torch.skipped) {
    r.torch = torch;
    r.ratio_fg_tfjs_over_torch = fg / torch.fg_ms;
    // PyTorch's faster way per product: the whole graph each call, or the point's graph kept.
    r.ratio_hv_tfjs_over_torch = hv / Math.min(torch.hv_ms, torch.hv_point_ms ?? Infinity);
    r.ratio_gn_tfjs_over_torch = gn / Math.min(torch.gn_ms, torch.gn_point_ms ?? Infinity);
  } else r.torch = torch;
  console.log(JSON.stringify(r, null, 2));
  fn.dispose();
}
main().catch(e => { console.error(e); process.exit(1); });
