// A long run that survives: checkpoints, Ctrl-C, resume, and a solve that keeps the event loop
// free (a timer prints progress while TR-GN trains).
//
//   node examples/long-run.js            # trains; press Ctrl-C at any time
//   node examples/long-run.js            # again: continues from runs/long/tr.ckpt where it stopped
//   rm -r runs/long                      # to start over
const fs = require('fs');
const tf = require('@tensorflow/tfjs');
const { createSolver, createTfjsFunction, darcy1d, InterruptedError } = require('petscml');

async function main() {
  const data = darcy1d({ train: 1000, test: 200 });
  const model = tf.sequential({ layers: [
    tf.layers.dense({ inputShape: [data.points], units: 64, activation: 'tanh', kernelInitializer: tf.initializers.glorotNormal({ seed: 1 }) }),
    tf.layers.dense({ units: 64, activation: 'tanh', kernelInitializer: tf.initializers.glorotNormal({ seed: 2 }) }),
    tf.layers.dense({ units: data.points - 2, kernelInitializer: tf.initializers.glorotNormal({ seed: 3 }) }),
  ] });
  const fn = await createTfjsFunction({ model, loss: 'mse', data: data.train });
  const ckpt = 'runs/long/tr.ckpt';
  const resume = fs.existsSync(ckpt) ? ckpt : undefined;
  let last = '';
  const solver = createSolver(fn, {
    preset: 'tr-gn', epochs: 300, test: { data: data.test }, log: 'runs/long/tr.jsonl',
    checkpoint: { path: ckpt, every: 10 }, resume,
    monitor: (r) => {
      if (r.type === 'iteration') last = `iteration ${r.iteration}, loss ${r.loss.toExponential(3)}`;
    },
  });
  console.log(resume ? `resuming from ${ckpt}` : 'starting (Ctrl-C stops with a checkpoint; run again to continue)');
  // The event loop is free during solveAsync: this timer runs while TAO trains.
  const timer = setInterval(() => last && console.log(`  ${last}`), 1000);
  try {
    const { summary } = await solver.solveAsync();
    console.log(`${summary.explanation}; test mean relative error ${summary.testMetric.toExponential(3)} after ${summary.iterations} iterations`);
  } catch (e) {
    if (!(e instanceof InterruptedError)) throw e;
    console.log(`\ninterrupted (${e.signal}): the checkpoint is in ${ckpt}; run this again to continue`);
    process.exitCode = 130;
  } finally {
    clearInterval(timer);
    solver.destroy();
  }
}

main().catch((e) => {
  console.error(e.message);
  process.exit(1);
});
