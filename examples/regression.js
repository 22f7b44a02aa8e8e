// MLP regression trained by TAO solvers through TensorFlow.js: the data set is generated here
// (a smooth 2-in, 2-out function on [-1, 1]^2), the model is a tf.sequential MLP, and each solver
// starts from the same initial weights.
//
//   node examples/regression.js                       # lmvm and ntr with Gauss-Newton products
//   node examples/regression.js -tao_max_it 200 -tr_tao_ntr_ksp_type nash
//   PETSCML_BACKEND=cpu node examples/regression.js   # force a tfjs backend
const tf = require('@tensorflow/tfjs');
const { Tao, Vec, Options, attachFunction, createTfjsFunction, initBackend, meanRelativeError } = require('petscml');

function makeData(n, seed) {
  // a small deterministic generator (mulberry32), so every run sees the same data
  let s = seed >>> 0;
  const rand = () => { s = (s + 0x6d2b79f5) >>> 0; let t = s; t = Math.imul(t ^ (t >>> 15), t | 1); t ^= t + Math.imul(t ^ (t >>> 7), t | 61); return ((t ^ (t >>> 14)) >>> 0) / 4294967296; };
  const x = new Float32Array(2 * n), y = new Float32Array(2 * n);
  for (let i = 0; i < n; i++) {
    const a = 2 * rand() - 1, b = 2 * rand() - 1;
    x[2 * i] = a; x[2 * i + 1] = b;
    y[2 * i] = Math.sin(Math.PI * a) * Math.cos(b);
    y[2 * i + 1] = Math.exp(-(a * a + b * b)) + 0.5 * a * b;
  }
  return { x: tf.tensor2d(x, [n, 2]), y: tf.tensor2d(y, [n, 2]) };
}

async function main() {
  await initBackend(); // before any tensor exists: tfjs-node-gpu, tfjs-node, wasm or cpu (PETSCML_BACKEND)
  const train = makeData(512, 1), test = makeData(256, 2);
  const model = tf.sequential({ layers: [
    tf.layers.dense({ inputShape: [2], units: 24, activation: 'tanh', kernelInitializer: tf.initializers.glorotNormal({ seed: 1 }) }),
    tf.layers.dense({ units: 24, activation: 'tanh', kernelInitializer: tf.initializers.glorotNormal({ seed: 2 }) }),
    tf.layers.dense({ units: 2, kernelInitializer: tf.initializers.glorotNormal({ seed: 3 }) }),
  ] });
  const fn = await createTfjsFunction({ model, loss: 'mse', data: train });
  const x0 = fn.initialParameters();
  const maxIt = Number(new Options().get('tao_max_it') ?? 100);

  const runs = [
    { label: 'L-BFGS (lmvm)', prefix: 'lbfgs_', type: 'lmvm', hessian: 'none' },
    { label: 'TR-GN (ntr, Gauss-Newton)', prefix: 'tr_', type: 'ntr', hessian: 'gauss-newton' },
  ];
  console.log(`MLP 2-24-24-2, ${fn.size} parameters, ${fn.datasetSize} samples, backend ${fn.backend.name}`);
  for (const run of runs) {
    const tao = new Tao({ type: run.type, prefix: run.prefix });
    const attached = attachFunction(tao, fn, { hessian: run.hessian });
    tao.maxIterations = maxIt;
    tao.setTolerances({ gatol: 1e-10, grtol: 0, gttol: 0 });
    tao.setFromOptions(); // -lbfgs_tao_*, -tr_tao_* from the command line
    if (run.hessian !== 'none') tao.ksp.setTolerances({ maxIts: 50 });
    const x = Vec.fromArray(x0);
    const f0 = fn.objective(x0);
    const t0 = Date.now();
    const r = tao.solve(x);
    const seconds = (Date.now() - t0) / 1000;
    const xs = x.toArray();
    const metric = fn.evaluate(xs, test, meanRelativeError);
    console.log(`${run.label.padEnd(26)} loss ${f0.toExponential(2)} -> ${r.f.toExponential(2)} (${(f0 / r.f).toFixed(0)}x)  ` +
      `test rel. error ${metric.toExponential(2)}  ${r.iterations} it, ${r.counts.hessianMult} Hv, ${seconds.toFixed(1)} s  [${r.reasonName}]`);
    attached.destroy(); tao.destroy(); x.destroy();
  }
  fn.dispose();
}
main().catch((e) => { console.error(e); process.exit(1); });
