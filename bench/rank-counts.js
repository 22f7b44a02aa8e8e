#!/usr/bin/env node
// Iteration and evaluation counts of the same TAO runs on 1, 2 and 3 ranks under every BLAS this
// machine can run: the data behind the bands of test/support/invariants.ts (BENCHMARKS.md,
// "Portability").
//
//   node bench/rank-counts.js                      # every variant of scripts/portability.sh --list
//   node bench/rank-counts.js default reference    # only these
//
// Runs test/fixtures/mpi.js (extended Rosenbrock n = 40 from x = 0: lmvm, nls, ntr, bntr, blmvm,
// cg) and test/fixtures/data-parallel.js (a sharded nonlinear least-squares problem: lmvm, ntr
// with exact products) and prints, per run, the counts and how far each is from the one-rank
// count of the same variant, against the band the tests allow.
'use strict';
const { execFileSync, spawnSync } = require('child_process');
const path = require('path');
const { bandFor } = loadBands();

const root = path.resolve(__dirname, '..');
const list = execFileSync('bash', [path.join(root, 'scripts/portability.sh'), '--list'], { encoding: 'utf8' });
const variants = process.argv.length > 2 ? process.argv.slice(2) : list.replace(/.*variants here: /s, '').trim().split(/\s+/);
const multiarch = execFileSync('gcc', ['-print-multiarch'], { encoding: 'utf8' }).trim();

function envFor(v) {
  const env = { ...process.env, OMPI_ALLOW_RUN_AS_ROOT: '1', OMPI_ALLOW_RUN_AS_ROOT_CONFIRM: '1', OMPI_MCA_rmaps_base_oversubscribe: '1' };
  if (v === 'reference') env.LD_LIBRARY_PATH = `/usr/lib/${multiarch}/blas${env.LD_LIBRARY_PATH ? `:${env.LD_LIBRARY_PATH}` : ''}`;
  else if (v !== 'default') env.OPENBLAS_CORETYPE = v;
  return env;
}

function mpirun(v, n, fixture, mode) {
  const r = spawnSync('mpirun', ['-n', String(n), process.execPath, path.join(root, 'test/fixtures', fixture), mode], { encoding: 'utf8', env: envFor(v), timeout: 120_000 });
  if (r.status !== 0) throw new Error(`${fixture} ${mode} under ${v}, -n ${n}: exit ${r.status} ${r.signal ?? ""} ${r.error ? r.error.message : ""}\n${r.stderr}\n${r.stdout.slice(-2000)}`);
  const first = r.stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l)).sort((a, b) => a.rank - b.rank)[0];
  return first;
}

// The bands are TypeScript in the test tree; this reads the two numbers it needs from the source
// so that the table and the tests cannot disagree.
function loadBands() {
  const src = require('fs').readFileSync(path.join(__dirname, '../test/support/invariants.ts'), 'utf8');
  const grab = (name) => {
    const m = src.match(new RegExp(`${name}: \\{ rel: ([0-9.]+), abs: ([0-9]+) \\}`));
    return { rel: Number(m[1]), abs: Number(m[2]) };
  };
  const bands = { newton: grab('newton'), quasiNewton: grab('quasiNewton') };
  return { bandFor: (type) => (/^(lmvm|blmvm|cg|bqnls|bqnktr|bncg|owlqn)$/.test(type) ? bands.quasiNewton : bands.newton) };
}

const rows = [];
let worst = 0;
for (const v of variants) {
  const byN = {};
  for (const n of [1, 2, 3]) {
    const ros = mpirun(v, n, 'mpi.js', 'rosenbrock').runs;
    const dp = mpirun(v, n, 'data-parallel.js', 'solve');
    byN[n] = { ...Object.fromEntries(Object.entries(ros).map(([t, r]) => [`rosenbrock/${t}`, { ...r.counts, reason: r.reason }])),
      'least-squares/lmvm': { ...dp.lmvm.counts, reason: dp.lmvm.reason }, 'least-squares/ntr': { ...dp.ntr.counts, reason: dp.ntr.reason } };
  }
  for (const run of Object.keys(byN[1])) {
    const type = run.split('/')[1];
    const band = bandFor(type);
    const cells = [1, 2, 3].map((n) => byN[n][run]);
    const use = (c) => Math.max(...['iterations', 'objectiveAndGradient', 'hessianMult'].map((k) => {
      const ref = cells[0][k];
      return ref === 0 && c[k] === 0 ? 0 : Math.abs(c[k] - ref) / Math.max(band.abs, band.rel * ref);
    }));
    const fraction = Math.max(use(cells[1]), use(cells[2]));
    worst = Math.max(worst, fraction);
    rows.push({ variant: v, run, its: cells.map((c) => c.iterations).join('/'), fg: cells.map((c) => c.objectiveAndGradient).join('/'),
      hv: cells.map((c) => c.hessianMult).join('/'), reasons: [...new Set(cells.map((c) => c.reason))].join(','), band: fraction.toFixed(2) });
  }
}

console.log(`${list.trim()}\ncounts on 1/2/3 ranks; 'band' = the largest deviation from the 1-rank count as a fraction of what the tests allow (<= 1 passes)`);
console.log('| variant | run | iterations | f+g | Hessian products | reason | band used |');
console.log('|---|---|---|---|---|---|---|');
for (const r of rows) console.log(`| ${r.variant} | ${r.run} | ${r.its} | ${r.fg} | ${r.hv} | ${r.reasons} | ${r.band} |`);
console.log(`largest fraction of a band used: ${worst.toFixed(2)}`);
process.exitCode = worst <= 1 ? 0 : 1;
