#!/usr/bin/env node
/*
 * The petscml backend against the others, in one run: bench/functions.js for each model (the
 * reference MLP, the main job's MLP, an FNO-1D block) on each backend (petscml, wasm; PyTorch float32 for the MLP when
 * /usr/bin/python3 has torch), ROUNDS rounds interleaved, each in a fresh process; prints the
 * medians over rounds and the ratios to petscml. Run alone on the machine (it is timing).
 *
 *   npx tsc -p tsconfig.json && node bench/engine.js          (ROUNDS=3, REPS=10 by default)
 */
'use strict';
const path = require('node:path');
const os = require('node:os');
const { execFileSync } = require('node:child_process');

const ROUNDS = Number(process.env.ROUNDS || 3);
const REPS = process.env.REPS || '10';
const BACKENDS = (process.env.BACKENDS || 'petscml,wasm').split(',');
const MODELS = (process.env.MODELS || 'mlp,darcy,fno').split(',');
const median = (a) => { const s = [...a].sort((x, y) => x - y); return s[s.length >> 1]; };

const runs = {};
for (let round = 0; round < ROUNDS; round++) {
  for (const model of MODELS) {
    for (const backend of BACKENDS) {
      const out = execFileSync(process.execPath, [path.join(__dirname, 'functions.js')], {
        encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, PETSCML_BACKEND: backend, MODEL: model, REPS, NO_TORCH: backend === BACKENDS[0] && round === 0 ? '' : '1' },
      });
      const r = JSON.parse(out.slice(out.indexOf('{')));
      const key = `${model}/${backend}`;
      (runs[key] ??= []).push(r);
      if (r.torch && !r.torch.skipped) (runs[`${model}/torch`] ??= []).push({ fg_ms: r.torch.fg_ms, hv_ms: r.torch.hv_ms, gn_ms: r.torch.gn_ms, backend: 'torch' });
      process.stderr.write(`round ${round + 1}/${ROUNDS} ${key}: f+g ${r.fg_ms.toFixed(1)} ms\n`);
    }
  }
}

const rows = [];
for (const model of MODELS) {
  const base = runs[`${model}/${BACKENDS[0]}`];
  const ref = { fg: median(base.map((r) => r.fg_ms)), hv: median(base.map((r) => r.hv_ms)), gn: median(base.map((r) => r.gn_ms)) };
  for (const backend of [...BACKENDS, 'torch']) {
    const rs = runs[`${model}/${backend}`];
    if (!rs) continue;
    const fg = median(rs.map((r) => r.fg_ms)), hv = median(rs.map((r) => r.hv_ms)), gn = median(rs.map((r) => r.gn_ms));
    rows.push({ model, backend, fg, hv, gn, fgRatio: ref.fg / fg, hvRatio: ref.hv / hv, gnRatio: ref.gn / gn, gnOverFg: gn / fg });
  }
}
const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
console.log(`machine: ${cpu}, ${os.cpus().length} cores; ${new Date().toISOString().slice(0, 10)}; ${ROUNDS} rounds x ${REPS} reps, medians`);
console.log(`| model | backend | f+g ms | exact Hv ms | GN Hv ms | GN/f+g | ${BACKENDS[0]} speed-up vs this (f+g / Hv / GN) |`);
console.log('|---|---|---:|---:|---:|---:|---|');
for (const r of rows) {
  console.log(`| ${r.model} | ${r.backend} | ${r.fg.toFixed(1)} | ${r.hv.toFixed(1)} | ${r.gn.toFixed(1)} | ${r.gnOverFg.toFixed(2)} | ` +
    `${(1 / r.fgRatio).toFixed(2)}x / ${(1 / r.hvRatio).toFixed(2)}x / ${(1 / r.gnRatio).toFixed(2)}x |`);
}
if (!runs['mlp/torch']) console.log('PyTorch: not available to /usr/bin/python3 on this machine (Debian python3-torch); no ratio to it measured.');
