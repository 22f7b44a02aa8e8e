#!/usr/bin/env node
/*
 * Data-parallel speedup: wall time of a fixed TR-GN run (ntr + Gauss-Newton products) at 1 and 2
 * ranks, with the same script, and the communication volume per iteration.
 *
 * Model: MLP 64-256-256-64, tanh (98,880 parameters), MSE, SAMPLES samples (default 4096) sharded by
 * rank, a fixed budget of ITS iterations (default 4) with at most KSP_ITS (default 8) Krylov
 * iterations each: compute (tfjs f+g and Gauss-Newton products) dominates, since per product each
 * rank moves two vectors of 98,880 doubles and evaluates ~2,000 samples through the network.
 *
 * One compute thread per rank: tfjs's wasm backend runs single-threaded in Node 20 (its threaded
 * build needs worker blob URLs Node lacks), and OMP_NUM_THREADS / OPENBLAS_NUM_THREADS = 1 keep the
 * BLAS behind PETSc from starting threads of its own; otherwise 2 ranks on 2 cores would compete
 * with their own helper threads and the comparison would measure oversubscription. The cpu backend
 * (PETSCML_BACKEND=cpu) is single-threaded JS too, ~30x slower.
 *
 *   npx tsc -p tsconfig.json && node bench/data-parallel.js            # 1 and 2 ranks, speedup
 *   SAMPLES=8192 ITS=3 RANKS=1,2,4 node bench/data-parallel.js         # other sizes and rank counts
 *   REDUCE=allreduce node bench/data-parallel.js                       # the solve with MPI_Allreduce + copy instead of reduce-scatter
 *
 * The machine must be otherwise idle for the timings to mean anything.
 */
'use strict';
const path = require('node:path');
const { spawnSync } = require('node:child_process');

const SAMPLES = Number(process.env.SAMPLES || 4096);
const ITS = Number(process.env.ITS || 4);
const KSP_ITS = Number(process.env.KSP_ITS || 8);
const SIZES = (process.env.LAYERS || '64,256,256,64').split(',').map(Number);

async function worker() {
  const tf = require('@tensorflow/tfjs');
  const { Tao, Vec, attachFunction, comm, createTfjsFunction, initBackend, shardData, replicationStats } =
    require(path.join(__dirname, '..', 'dist'));
  const { native } = require(path.join(__dirname, '..', 'dist', 'native'));
  const { rank, size } = comm();
  if (process.env.REDUCE) native().replication({ reduce: process.env.REDUCE });
  const backend = await initBackend({ quiet: true });

  // The same data and initial weights on every rank count (fixed generators).
  let seed = 1;
  const rnd = () => { seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0; return (seed / 2 ** 32) * 2 - 1; };
  const [nin, nout] = [SIZES[0], SIZES[SIZES.length - 1]];
  const xs = Float32Array.from({ length: SAMPLES * nin }, rnd);
  const ys = new Float32Array(SAMPLES * nout);
  for (let i = 0; i < SAMPLES; i++) {
    for (let j = 0; j < nout; j++) ys[i * nout + j] = Math.sin(xs[i * nin + j % nin] + 0.5 * xs[i * nin + (j * 7 + 3) % nin]);
  }
  const params = {};
  for (let l = 0; l + 1 < SIZES.length; l++) {
    params[`w${l}`] = tf.tensor(Float32Array.from({ length: SIZES[l] * SIZES[l + 1] }, () => rnd() / Math.sqrt(SIZES[l])), [SIZES[l], SIZES[l + 1]]);
    params[`b${l}`] = tf.zeros([SIZES[l + 1]]);
  }
  const layers = SIZES.length - 1;
  const model = {
    params,
    apply: (p, x) => {
      let h = x;
      for (let l = 0; l < layers; l++) { h = tf.add(tf.matMul(h, p[`w${l}`]), p[`b${l}`]); if (l < layers - 1) h = tf.tanh(h); }
      return h;
    },
  };
  const data = shardData({ x: { values: xs, shape: [SAMPLES, nin] }, y: { values: ys, shape: [SAMPLES, nout] } });
  const fn = await createTfjsFunction({ model, loss: 'mse', data, dataParallel: true, quiet: true });

  const tao = new Tao({ type: 'ntr', comm: 'world' });
  const x = Vec.fromArray(fn.initialParameters(), 'world');
  tao.setSolution(x);
  attachFunction(tao, fn, { hessian: 'gauss-newton' });
  tao.maxIterations = ITS;
  tao.setTolerances({ gatol: 0, grtol: 0, gttol: 0 });
  tao.ksp.setTolerances({ maxIts: KSP_ITS });
  replicationStats({ reset: true });
  const t0 = process.hrtime.bigint();
  const r = tao.solve();
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const stats = replicationStats();
  // The communication alone: a replicated product whose closure does nothing (y = x), timed with
  // each reduction: gather + failure agreement + reduce-scatter (or allreduce + copy).
  const { ShellMat } = require(path.join(__dirname, '..', 'dist'));
  const comms = {};
  for (const mode of ['reduce-scatter', 'allreduce']) {
    native().replication({ reduce: mode });
    const H = new ShellMat({ comm: 'world', size: fn.size, localRows: x.localSize, localCols: x.localSize, replicated: true, mult: (v, y) => y.set(v) });
    const y = x.duplicate();
    for (let i = 0; i < 10; i++) H.mult(x, y);
    const reps = 200, c0 = process.hrtime.bigint();
    for (let i = 0; i < reps; i++) H.mult(x, y);
    comms[mode] = Number(process.hrtime.bigint() - c0) / 1e3 / reps;
    H.destroy(); y.destroy();
  }
  if (rank === 0) {
    console.log(JSON.stringify({ ranks: size, backend: backend.name, params: fn.size, samples: SAMPLES, localSamples: fn.datasetSize,
      iterations: r.iterations, f: r.f, counts: r.counts, seconds, stats, comms }));
  }
}

function driver() {
  const ranks = (process.env.RANKS || '1,2').split(',').map(Number);
  const env = { ...process.env, OMP_NUM_THREADS: '1', OPENBLAS_NUM_THREADS: '1', OMPI_ALLOW_RUN_AS_ROOT: '1', OMPI_ALLOW_RUN_AS_ROOT_CONFIRM: '1' };
  const results = [];
  for (const n of ranks) {
    const args = ['-n', String(n), '--bind-to', 'core', ...(n > 2 ? ['--oversubscribe', '--bind-to', 'none'] : []),
      '-x', 'OMP_NUM_THREADS', '-x', 'OPENBLAS_NUM_THREADS', process.execPath, __filename, '--worker'];
    const p = spawnSync('mpirun', args, { encoding: 'utf8', env, timeout: 600_000 });
    const line = p.stdout.split('\n').find((l) => l.startsWith('{'));
    if (p.status !== 0 || !line) {
      console.error(p.stdout, p.stderr);
      throw new Error(`mpirun -n ${n} failed (status ${p.status})`);
    }
    results.push(JSON.parse(line));
  }
  const base = results[0];
  console.log(`TR-GN (ntr + Gauss-Newton), MLP ${SIZES.join('-')} (${base.params} parameters), ${base.samples} samples, ` +
    `${ITS} iterations x <= ${KSP_ITS} CG, backend ${base.backend}, reduction ${process.env.REDUCE || 'reduce-scatter'}`);
  console.log('ranks  samples/rank  wall s  speedup  f             f+g  Hv   gathers/it  MB gathered/it/rank  MB reduced/it/rank');
  for (const r of results) {
    const its = Math.max(r.iterations, 1);
    const mb = (d) => ((d * 8) / 1e6 / its).toFixed(2);
    console.log(`${String(r.ranks).padStart(5)}  ${String(r.localSamples).padStart(12)}  ${r.seconds.toFixed(2).padStart(6)}  ` +
      `${(base.seconds / r.seconds).toFixed(2).padStart(6)}x  ${r.f.toExponential(6)}  ${String(r.counts.objectiveAndGradient + r.counts.gradient).padStart(3)}  ` +
      `${String(r.counts.hessianMult).padStart(3)}  ${(r.stats.gathers / its).toFixed(1).padStart(10)}  ${mb(r.stats.gatheredDoubles).padStart(19)}  ${mb(r.stats.reducedDoubles).padStart(18)}`);
  }
  console.log('Per collective: a gather delivers all N parameters to every rank (8(N - n_r) bytes received per rank);' +
    ' a reduce-scatter sends ~8N(P-1)/P bytes per rank and keeps its own 8 n_r (an allreduce moves twice that);' +
    ' plus one 16-byte allreduce (objective, failure flag) or 4-byte one (failure flag) per evaluation.');
  for (const r of results.slice(1)) {
    console.log(`${r.ranks} ranks, one replicated product with an empty closure (gather + reduction), ${r.params} parameters: ` +
      `reduce-scatter ${r.comms['reduce-scatter'].toFixed(0)} us, allreduce + copy ${r.comms.allreduce.toFixed(0)} us`);
  }
}

if (process.argv.includes('--worker')) worker().catch((e) => { console.error(e); process.exit(1); });
else driver();
