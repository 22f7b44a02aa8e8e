// Memory over many calls on the petscml backend (issue 11): 10^4 f+g, 10^3 Gauss-Newton and 10^3
// exact Hessian products of an MLP (64-128-64, batch 500) in a synchronous loop. Reports tensors,
// the JS heap and the C heap after a collection, and RSS, five times per phase. Passes when the
// tensor count is flat, the JS heap grows by under 4 MB and the C heap, once the event loop has
// turned, is within 16 MB of its start (output arrays are pooled up to 256 MB by design; this
// model's pool stays far below).
//   node --expose-gc bench/engine-memory.js [f+g count] [Hv count]
const tf = require('@tensorflow/tfjs');
const { createTfjsFunction, initBackend } = require('../dist');
const { native } = require('../dist/native');

const nFg = Number(process.argv[2] ?? 10000), nHv = Number(process.argv[3] ?? 1000);
if (!global.gc) {
  console.error('engine-memory: run with node --expose-gc');
  process.exit(2);
}
const mb = (b) => (b / 2 ** 20).toFixed(1);
const reading = () => {
  global.gc();
  return { tensors: tf.memory().numTensors, js: process.memoryUsage().heapUsed, c: native().nativeMemory().heapInUse, rss: process.memoryUsage().rss };
};
const show = (r) => `tensors ${r.tensors}, JS heap ${mb(r.js)} MB, C heap ${mb(r.c)} MB, RSS ${mb(r.rss)} MB`;

(async () => {
  await initBackend({ backend: 'petscml', quiet: true });
  const S = [64, 128, 64], B = 500;
  let seed = 1;
  const rnd = () => { seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0; return seed / 2 ** 32 * 2 - 1; };
  const params = {};
  for (let l = 0; l < 2; l++) {
    params[`w${l}`] = tf.tensor(Float32Array.from({ length: S[l] * S[l + 1] }, () => rnd() / 10), [S[l], S[l + 1]]);
    params[`b${l}`] = tf.zeros([S[l + 1]]);
  }
  const fn = await createTfjsFunction({
    model: { params, apply: (p, x) => tf.add(tf.matMul(tf.tanh(tf.add(tf.matMul(x, p.w0), p.b0)), p.w1), p.b1) },
    loss: 'mse', quiet: true,
    data: { x: { values: Float32Array.from({ length: B * 64 }, rnd), shape: [B, 64] }, y: { values: Float32Array.from({ length: B * 64 }, rnd), shape: [B, 64] } },
  });
  const x = fn.initialParameters(), g = new Float64Array(fn.size), v = x.map(() => rnd()), y = new Float64Array(fn.size);
  let ok = true;
  const phase = async (what, count, setup, step) => {
    setup();
    for (let i = 0; i < 20; i++) step(i); // lazily made caches and pooled arrays
    const start = reading();
    console.log(`${what}: start ${show(start)}`);
    for (let i = 1; i <= count; i++) {
      step(i);
      if (i % Math.max(1, Math.floor(count / 5)) === 0) console.log(`  ${String(i).padStart(6)}: ${show(reading())}`);
    }
    for (let k = 0; k < 4; k++) await new Promise((r) => setImmediate(r));
    const end = reading();
    const pass = end.tensors === start.tensors && end.js - start.js < 4 * 2 ** 20 && end.c - start.c < 16 * 2 ** 20;
    console.log(`  after the event loop turned: ${show(end)} -> ${pass ? 'flat' : 'GROWS'}`);
    ok &&= pass;
  };
  await phase(`${nFg} f+g`, nFg, () => {}, (i) => { x[0] = 1e-4 * (i % 5); fn.objectiveAndGradient(x, g); });
  for (const kind of ['gauss-newton', 'exact']) {
    let H;
    await phase(`${nHv} ${kind} products`, nHv, () => { H = fn.hessian(kind); H.setPoint(x); }, () => H.apply(v, y));
    H.dispose?.();
  }
  fn.dispose();
  console.log(ok ? 'engine-memory: flat' : 'engine-memory: GROWS');
  process.exitCode = ok ? 0 : 1;
})();
