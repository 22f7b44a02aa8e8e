// Data-parallel training: the same script on one process or on N MPI ranks.
//
//   node examples/data-parallel.js                   # one process
//   mpirun -n 2 node examples/data-parallel.js       # two ranks, each with half the samples
//   mpirun -n 4 --hostfile hosts node examples/data-parallel.js -tao_max_it 60
//
// What changes with N is only who does what: every rank builds the same model and the same
// initial weights, keeps its own block of the data (shardData), and evaluates the loss on it; the
// solver's vectors (and L-BFGS history, Krylov vectors) are split across the ranks in a
// distributed PETSc Vec, and petscml's native layer hands each rank the full parameter vector and
// sums gradients and Hessian products back (see the README's MPI section). Output is printed by rank 0 only.
const tf = require('@tensorflow/tfjs');
const { Tao, Vec, Options, attachFunction, createTfjsFunction, initBackend, comm, rootLog, shardData } = require('petscml');

function makeData(n, seed) {
  // a small deterministic generator (mulberry32): every rank generates the same data set
  let s = seed >>> 0;
  const rand = () => { s = (s + 0x6d2b79f5) >>> 0; let t = s; t = Math.imul(t ^ (t >>> 15), t | 1); t ^= t + Math.imul(t ^ (t >>> 7), t | 61); return ((t ^ (t >>> 14)) >>> 0) / 4294967296; };
  const x = new Float32Array(2 * n), y = new Float32Array(2 * n);
  for (let i = 0; i < n; i++) {
    const a = 2 * rand() - 1, b = 2 * rand() - 1;
    x[2 * i] = a; x[2 * i + 1] = b;
    y[2 * i] = Math.sin(Math.PI * a) * Math.cos(b);
    y[2 * i + 1] = Math.exp(-(a * a + b * b)) + 0.5 * a * b;
  }
  return { x: { values: x, shape: [n, 2] }, y: { values: y, shape: [n, 2] } };
}

async function main() {
  const { size } = comm(); // initializes PETSc and MPI (under mpirun: one rank per process)
  await initBackend({ quiet: true });
  const model = tf.sequential({ layers: [
    tf.layers.dense({ inputShape: [2], units: 32, activation: 'tanh', kernelInitializer: tf.initializers.glorotNormal({ seed: 1 }) }),
    tf.layers.dense({ units: 32, activation: 'tanh', kernelInitializer: tf.initializers.glorotNormal({ seed: 2 }) }),
    tf.layers.dense({ units: 2, kernelInitializer: tf.initializers.glorotNormal({ seed: 3 }) }),
  ] });
  // This rank's contiguous block of the samples; with dataParallel each rank's loss is weighted by
  // its share, so the objective summed over the ranks is the mean over all samples.
  // (To read only this rank's part from disk instead: loadShard((rank, size) => ...).)
  const fn = await createTfjsFunction({ model, loss: 'mse', data: shardData(makeData(2000, 1)), dataParallel: true });
  const maxIt = Number(new Options().get('tao_max_it') ?? 20);

  rootLog(`MLP 2-32-32-2, ${fn.size} parameters, 2000 samples on ${size} rank(s) (${fn.datasetSize} here), backend ${fn.backend.name}`);
  for (const run of [
    { label: 'L-BFGS (lmvm)', type: 'lmvm', hessian: 'none', prefix: 'lbfgs_' },
    { label: 'TR-GN (ntr + Gauss-Newton)', type: 'ntr', hessian: 'gauss-newton', prefix: 'tr_' },
  ]) {
    const tao = new Tao({ type: run.type, comm: 'world', prefix: run.prefix });
    const x = Vec.fromArray(fn.initialParameters(), 'world'); // each rank keeps its block of the parameters
    tao.setSolution(x);
    const attached = attachFunction(tao, fn, { hessian: run.hessian });
    tao.maxIterations = maxIt;
    tao.setTolerances({ gatol: 1e-10, grtol: 0, gttol: 0 });
    if (run.hessian !== 'none') tao.ksp.setTolerances({ maxIts: 20 });
    tao.setFromOptions(); // -lbfgs_tao_*, -tr_tao_* from the command line
    const t0 = Date.now();
    const r = tao.solve();
    rootLog(`${run.label.padEnd(28)} loss ${r.f.toExponential(4)} after ${r.iterations} it, ${r.counts.hessianMult} Hv, ` +
      `${((Date.now() - t0) / 1000).toFixed(1)} s  [${r.reasonName}]`);
    attached.destroy(); tao.destroy(); x.destroy();
  }
  fn.dispose();
}
// Under mpirun an uncaught error ends the whole job (petscml aborts MPI on a failing exit).
main().catch((e) => { console.error(e); process.exit(1); });
