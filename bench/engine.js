#!/usr/bin/env node
/*
 * The petscml backend against the others, in one run: bench/functions.js for each model (the
 * reference MLP, the main job's MLP, an FNO-1D block; MODELS=...,fno3d adds the small FNO-3D) on
 * each backend (petscml, wasm), and bench/functions_torch.py for the same shapes in PyTorch float32
 * (Debian's python3-torch) with 1 and 2 threads, on Debian's OpenBLAS sgemm and on oneDNN's through
 * the shim of ../shared/anchors/sgemm_dnnl.c (built here when libdnnl-dev is installed). ROUNDS
 * rounds interleaved, each measurement in a fresh process (BACKENDS=petscml,petscml-float64 adds
 * PyTorch in float64 with 2 threads); prints the medians over rounds and the
 * ratios of petscml to each, then to the strongest PyTorch configuration per quantity. Run alone
 * on the machine (it is timing).
 *
 *   apt-get install python3-torch libdnnl-dev       (optional: the PyTorch rows)
 *   npx tsc -p tsconfig.json && node bench/engine.js          (ROUNDS=3, REPS=10 by default)
 */
'use strict';
const path = require('node:path');
const os = require('node:os');
const fs = require('node:fs');
const { execFileSync, spawnSync } = require('node:child_process');

const ROUNDS = Number(process.env.ROUNDS || 3);
const REPS = process.env.REPS || '10';
const BACKENDS = (process.env.BACKENDS || 'petscml,wasm').split(',');
const MODELS = (process.env.MODELS || 'mlp,darcy,fno').split(',');
const TORCH_MODELS = new Set(['mlp', 'darcy', 'fno']);
const median = (a) => { const s = [...a].sort((x, y) => x - y); return s[s.length >> 1]; };

function torchAvailable() {
  const r = spawnSync('/usr/bin/python3', ['-c', 'import torch'], { stdio: 'ignore' });
  return r.status === 0;
}
function buildShim() {
  const src = path.join(__dirname, '..', '..', 'shared', 'anchors', 'sgemm_dnnl.c');
  const lib = path.join(os.tmpdir(), 'petscml-libsgemm_dnnl.so');
  if (!fs.existsSync(src)) return { why: `${src} not found` };
  const r = spawnSync('gcc', ['-O2', '-shared', '-fPIC', src, '-o', lib, '-ldnnl'], { encoding: 'utf8' });
  return r.status === 0 ? { lib } : { why: `the shim did not build (libdnnl-dev installed?): ${(r.stderr || '').trim().split('\n')[0]}` };
}

const torch = torchAvailable();
const shim = torch ? buildShim() : { why: 'no torch' };
const TORCH_VARIANTS = [];
if (torch) {
  for (const threads of [1, 2]) {
    TORCH_VARIANTS.push({ name: `torch-openblas-${threads}t`, threads });
    if (shim.lib) TORCH_VARIANTS.push({ name: `torch-onednn-${threads}t`, threads, preload: shim.lib });
  }
  // The float64 backend's anchor: PyTorch in double (its float64 matmuls are OpenBLAS dgemm either way).
  if (BACKENDS.includes('petscml-float64')) TORCH_VARIANTS.push({ name: 'torch-float64-2t', threads: 2, dtype: 'float64' });
}

const runs = {};
for (let round = 0; round < ROUNDS; round++) {
  for (const model of MODELS) {
    for (const backend of BACKENDS) {
      const out = execFileSync(process.execPath, [path.join(__dirname, 'functions.js')], {
        encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, PETSCML_BACKEND: backend, MODEL: model, REPS, NO_TORCH: '1' },
      });
      const r = JSON.parse(out.slice(out.indexOf('{')));
      (runs[`${model}/${backend}`] ??= []).push(r);
      process.stderr.write(`round ${round + 1}/${ROUNDS} ${model}/${backend}: f+g ${r.fg_ms.toFixed(1)} ms\n`);
    }
    if (!TORCH_MODELS.has(model)) continue;
    for (const t of TORCH_VARIANTS) {
      const env = { ...process.env, MODEL: model, TORCH_THREADS: String(t.threads), OMP_NUM_THREADS: String(t.threads), TORCH_DTYPE: t.dtype ?? 'float32' };
      if (t.preload) env.LD_PRELOAD = t.preload; else delete env.LD_PRELOAD;
      const out = execFileSync('/usr/bin/python3', [path.join(__dirname, 'functions_torch.py'), REPS], { encoding: 'utf8', env, stdio: ['ignore', 'pipe', 'pipe'] });
      const r = JSON.parse(out.trim().split('\n').pop());
      (runs[`${model}/${t.name}`] ??= []).push(r);
      process.stderr.write(`round ${round + 1}/${ROUNDS} ${model}/${t.name}: f+g ${r.fg_ms.toFixed(1)} ms\n`);
    }
  }
}

const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
const blas = runs[`${MODELS[0]}/${BACKENDS[0]}`]?.[0]?.blas;
// The kernel family sets the products' speed (bench/sgemm-core.js); PyTorch's OpenBLAS rows run the same one.
console.log(`machine: ${cpu}, ${os.cpus().length} cores; ${new Date().toISOString().slice(0, 10)}; ${ROUNDS} rounds x ${REPS} reps, medians; ` +
  `OpenBLAS ${blas ?? 'not used'} kernels (OPENBLAS_CORETYPE ${process.env.OPENBLAS_CORETYPE === undefined ? 'unset' : `'${process.env.OPENBLAS_CORETYPE}'`})`);
console.log(`| model | backend | f+g ms | exact Hv ms | GN Hv ms | GN/f+g | ${BACKENDS[0]} / this (f+g / Hv / GN) |`);
console.log('|---|---|---:|---:|---:|---:|---|');
const q = (rs, k) => median(rs.map((r) => r[k]));
const anchors = [];
for (const model of MODELS) {
  const base = runs[`${model}/${BACKENDS[0]}`];
  const ref = { fg: q(base, 'fg_ms'), hv: q(base, 'hv_ms'), gn: q(base, 'gn_ms') };
  const best = { fg: Infinity, hv: Infinity, gn: Infinity };
  const bestBy = {};
  for (const name of [...BACKENDS, ...TORCH_VARIANTS.map((t) => t.name)]) {
    const rs = runs[`${model}/${name}`];
    if (!rs) continue;
    // Products at one point: petscml's on the point's linearization; PyTorch's the faster of
    // rebuilding the graph each call and keeping the point's graph (functions_torch.py at_point).
    const point = (k) => Math.min(q(rs, `${k}_ms`), rs.every((r) => r[`${k}_point_ms`] !== undefined) ? q(rs, `${k}_point_ms`) : Infinity);
    const m = { fg: q(rs, 'fg_ms'), hv: point('hv'), gn: point('gn') };
    if (name.startsWith('torch') && !name.includes('float64')) for (const k of ['fg', 'hv', 'gn']) if (m[k] < best[k]) { best[k] = m[k]; bestBy[k] = name; }
    console.log(`| ${model} | ${name} | ${m.fg.toFixed(1)} | ${m.hv.toFixed(1)} | ${m.gn.toFixed(1)} | ${(m.gn / m.fg).toFixed(2)} | ` +
      `${(ref.fg / m.fg).toFixed(2)} / ${(ref.hv / m.hv).toFixed(2)} / ${(ref.gn / m.gn).toFixed(2)} |`);
  }
  if (Number.isFinite(best.fg)) anchors.push({ model, ref, best, bestBy });
}
for (const model of MODELS) {
  // The first product at a new point (the recording included) against PyTorch rebuilding its graph.
  const base = runs[`${model}/${BACKENDS[0]}`];
  if (!base?.[0]?.hv_first_ms) continue;
  const torch = TORCH_VARIANTS.filter((t) => t.dtype !== 'float64').map((t) => runs[`${model}/${t.name}`]).filter(Boolean);
  const bestOf = (k) => Math.min(...torch.map((rs) => q(rs, k)));
  const line = [`first product at a new point, ${model}: exact Hv ${q(base, 'hv_first_ms').toFixed(1)} ms, GN ${q(base, 'gn_first_ms').toFixed(1)} ms`];
  if (torch.length) line.push(`(petscml / strongest PyTorch, whole graph per call: ${(q(base, 'hv_first_ms') / bestOf('hv_ms')).toFixed(2)} / ${(q(base, 'gn_first_ms') / bestOf('gn_ms')).toFixed(2)})`);
  console.log(line.join(' '));
}
if (anchors.length) {
  console.log(`\n${BACKENDS[0]} / the strongest float32 PyTorch configuration of each quantity (below 1: ${BACKENDS[0]} is faster):`);
  for (const a of anchors) {
    console.log(`- ${a.model}: f+g ${(a.ref.fg / a.best.fg).toFixed(2)} (${a.bestBy.fg}), exact Hv ${(a.ref.hv / a.best.hv).toFixed(2)} (${a.bestBy.hv}), ` +
      `GN Hv ${(a.ref.gn / a.best.gn).toFixed(2)} (${a.bestBy.gn})`);
  }
} else {
  console.log('PyTorch: not available to /usr/bin/python3 on this machine (apt-get install python3-torch); no ratio to it measured.');
}
for (const model of MODELS) {
  const a = runs[`${model}/petscml-float64`], t = runs[`${model}/torch-float64-2t`], s32 = runs[`${model}/petscml`];
  if (!a) continue;
  const r = (x, y, k) => (q(x, k) / q(y, k)).toFixed(2);
  if (s32) console.log(`- ${model}: petscml-float64 / petscml (float32): f+g ${r(a, s32, 'fg_ms')}, exact Hv ${r(a, s32, 'hv_ms')}, GN Hv ${r(a, s32, 'gn_ms')}`);
  if (t) console.log(`- ${model}: petscml-float64 / PyTorch float64 (2 threads): f+g ${r(a, t, 'fg_ms')}, exact Hv ${r(a, t, 'hv_ms')}, GN Hv ${r(a, t, 'gn_ms')}`);
}
if (torch && !shim.lib) console.log(`oneDNN shim: ${shim.why}; PyTorch ran on Debian's OpenBLAS only.`);
