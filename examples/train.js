// The one-liner: a tfjs model trained by a preset solver, tuned from the command line.
//
//   node examples/train.js                                  # TR-GN (the default preset)
//   node examples/train.js -petscml_preset ls-gn -tao_monitor
//   node examples/train.js -petscml_preset adam -tao_adam_lr 3e-3
//   npx petscml train examples/train.js --preset lbfgs      # the same through the CLI
//   npx petscml plot runs/example.jsonl -o runs/example     # draw the log
const tf = require('@tensorflow/tfjs');
const { createSolver, createTfjsFunction, darcy1d, initBackend, Options } = require('petscml');

async function main() {
  await initBackend(); // before any tensor exists: tfjs-node-gpu, tfjs-node, wasm or cpu
  const data = darcy1d({ train: 500, test: 100 });        // generated: log a -> u for -(a u')' = 1
  const model = tf.sequential({ layers: [
    tf.layers.dense({ inputShape: [data.points], units: 48, activation: 'tanh' }),
    tf.layers.dense({ units: data.points - 2 }),
  ] });
  // First-order presets step over mini-batches; the others use the whole data set each iteration.
  const preset = new Options().get('petscml_preset') ?? 'tr-gn';
  const batchSize = ['adam', 'adamw', 'sgd'].includes(preset) ? 25 : undefined;
  const fn = await createTfjsFunction({ model, loss: 'mse', data: data.train, batchSize });

  const solver = createSolver(fn, {
    preset: 'tr-gn', epochs: 50, test: { data: data.test }, log: 'runs/example.jsonl', progress: true,
  });
  const { summary } = solver.solve(); // the weights are now in `model`
  solver.destroy();
  console.log(`${solver.label}: loss ${summary.loss.toExponential(3)}, test mean relative error ` +
    `${summary.testMetric.toExponential(3)}, ${summary.oracleCalls.toFixed(0)} oracle calls, ${summary.time.toFixed(1)} s (${summary.reason})`);
}
main().catch((e) => { console.error(e.message); process.exitCode = 1; });
