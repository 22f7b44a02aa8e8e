#!/usr/bin/env node
/*
 * The reference MLP's eight products of one f+g (64-256-256-64, batch 1,000: three forward, five
 * backward with transposed operands) on the petscml backend, under each OpenBLAS kernel family this
 * CPU can run, each in a fresh process (OPENBLAS_CORETYPE is read when OpenBLAS loads), rounds
 * interleaved: "as set" is this environment (OPENBLAS_CORETYPE as it is), "OpenBLAS's choice"
 * the family OpenBLAS detects with the variable unset. How much of a benchmark's matmul time is the
 * kernel family rather than petscml. Run alone on the machine (it is timing).
 *
 *   npx tsc -p tsconfig.json && node bench/sgemm-core.js        (ROUNDS=3)
 */
'use strict';
const path = require('node:path');
const fs = require('node:fs');
const os = require('node:os');
const { execFileSync } = require('node:child_process');

// [m, n, k, transA, transB] of h@W forward and of dW = h^T dY, dh = dY W^T backward.
const SHAPES = [[1000, 256, 64, 0, 0], [1000, 256, 256, 0, 0], [1000, 64, 256, 0, 0], [256, 64, 1000, 1, 0],
  [1000, 256, 64, 0, 1], [256, 256, 1000, 1, 0], [1000, 256, 256, 0, 1], [64, 256, 1000, 1, 0]];

async function child() {
  const { initBackend } = require(path.join(__dirname, '..', 'dist', 'functions'));
  const { native } = require(path.join(__dirname, '..', 'dist', 'native'));
  const tf = require('@tensorflow/tfjs');
  await initBackend({ backend: 'petscml', quiet: true });
  const out = { core: native().engine.blasCore(), us: [] };
  for (const [m, n, k, ta, tb] of SHAPES) {
    const a = tf.randomNormal(ta ? [k, m] : [m, k]), b = tf.randomNormal(tb ? [n, k] : [k, n]);
    // Outputs disposed, so the backend reuses their arrays as in training (dataSync would not).
    for (let i = 0; i < 100; i++) tf.matMul(a, b, !!ta, !!tb).dispose();
    const t = [];
    for (let r = 0; r < 15; r++) {
      const s = process.hrtime.bigint();
      for (let i = 0; i < 30; i++) tf.matMul(a, b, !!ta, !!tb).dispose();
      t.push(Number(process.hrtime.bigint() - s) / 30e3);
    }
    out.us.push(t.sort((x, y) => x - y)[t.length >> 1]);
  }
  console.log(JSON.stringify(out));
}

function main() {
  const flags = (fs.readFileSync('/proc/cpuinfo', 'utf8').match(/^flags\s*:(.*)$/m)?.[1] ?? '').split(/\s+/);
  const has = (...f) => f.every((x) => flags.includes(x));
  const families = ['(as set)', "(OpenBLAS's choice)"];
  if (has('avx512f', 'avx512bw', 'avx512dq', 'avx512vl', 'avx512cd')) families.push('SkylakeX');
  if (has('avx512f', 'avx512bw', 'avx512dq', 'avx512vl', 'avx512cd', 'avx512_bf16')) families.push('Cooperlake');
  if (has('avx2', 'fma')) families.push('Haswell');
  if (has('avx')) families.push('Sandybridge');
  const rounds = Number(process.env.ROUNDS || 3);
  const res = {};
  for (let r = 0; r < rounds; r++) {
    for (const fam of families) {
      const env = { ...process.env, SGEMM_CORE_CHILD: '1' };
      if (fam === "(OpenBLAS's choice)") delete env.OPENBLAS_CORETYPE;
      else if (fam !== '(as set)') env.OPENBLAS_CORETYPE = fam;
      const o = JSON.parse(execFileSync(process.execPath, [__filename], { env, encoding: 'utf8' }).trim().split('\n').pop());
      (res[fam] ??= { core: o.core, runs: [] }).runs.push(o.us);
    }
  }
  const med = (a) => [...a].sort((x, y) => x - y)[a.length >> 1];
  console.log(`machine: ${os.cpus()[0]?.model ?? 'unknown CPU'}, ${os.cpus().length} cores; ${new Date().toISOString().slice(0, 10)}; ` +
    `OPENBLAS_CORETYPE ${process.env.OPENBLAS_CORETYPE === undefined ? 'unset' : `'${process.env.OPENBLAS_CORETYPE}'`}; ${rounds} rounds, medians (us)`);
  console.log(`| family | OpenBLAS runs | ${SHAPES.map(([m, n, k, ta, tb]) => `${m}x${n}x${k}${ta ? ' tA' : ''}${tb ? ' tB' : ''}`).join(' | ')} | all eight | GFLOP/s |`);
  console.log(`|---|---|${SHAPES.map(() => '---:').join('|')}|---:|---:|`);
  const flops = SHAPES.reduce((s, [m, n, k]) => s + 2 * m * n * k, 0);
  for (const [fam, { core, runs }] of Object.entries(res)) {
    const per = SHAPES.map((_, i) => med(runs.map((u) => u[i])));
    const all = med(runs.map((u) => u.reduce((s, x) => s + x, 0)));
    console.log(`| ${fam} | ${core} | ${per.map((x) => x.toFixed(0)).join(' | ')} | ${all.toFixed(0)} | ${(flops / all / 1e3).toFixed(0)} |`);
  }
}

if (process.env.SGEMM_CORE_CHILD) child().catch((e) => { console.error(e); process.exit(1); });
else main();
