// A model trained in double precision: the model, the loss, the gradient and the Gauss-Newton
// products all in float64 on petscml's native engine (tfjs itself has no float64).
//
//   node examples/float64.js                  # TR-GN in float64
//   node examples/float64.js float32          # the same run in float32, to compare
//   npx petscml train --precision float64     # the built-in comparison, through the CLI
const tf = require('@tensorflow/tfjs');
const { createSolver, createTfjsFunction, darcy1d, exactScalar, initBackend } = require('petscml');

async function main() {
  const precision = process.argv[2] === 'float32' ? 'float32' : 'float64';
  // The backend first: a model's tensors are made on the backend active when they are created.
  await initBackend({ backend: precision === 'float64' ? 'petscml-float64' : 'petscml' });
  const data = darcy1d({ train: 500, test: 100 });
  const params = {
    w1: tf.randomNormal([data.points, 48], 0, 1 / Math.sqrt(data.points), 'float32', 1), b1: tf.zeros([48]),
    w2: tf.randomNormal([48, data.points - 2], 0, 1 / Math.sqrt(48), 'float32', 2), b2: tf.zeros([data.points - 2]),
  };
  const model = {
    params,
    // A constant of your own: exactScalar keeps it in double (tf.mul(h, 0.1) would round 0.1 to float32).
    apply: (p, x) => tf.add(tf.matMul(tf.tanh(tf.add(tf.matMul(tf.mul(x, exactScalar(0.1)), p.w1), p.b1)), p.w2), p.b2),
  };
  const fn = await createTfjsFunction({ model, loss: 'mse', data: data.train, precision });
  const solver = createSolver(fn, { preset: 'tr-gn', epochs: 40, test: { data: data.test }, progress: true });
  const { summary } = solver.solve();
  solver.destroy();
  console.log(`${solver.label} in ${fn.precision}: loss ${summary.loss.toExponential(3)}, test mean relative error ` +
    `${summary.testMetric.toExponential(3)}, ${summary.oracleCalls.toFixed(0)} oracle calls, ${summary.time.toFixed(1)} s`);
  fn.dispose();
}

main().catch((e) => { console.error(e.message); process.exit(1); });
