// Leak check (issue 10): 10^4 solves of one solver, 10^4 tr-gn solver lifecycles (create, solve,
// destroy) and 10^4 solvers dropped without destroy(), in a synchronous loop, reporting RSS, the C
// heap in use, tfjs tensor counts and open file descriptors every 10%. Flat tensor and fd counts
// are the pass criterion, and a C heap that the event loop's turn brings back to its start.
//   node --expose-gc bench/leaks.js [count]        (default 10000)
const fs = require('fs');
const os = require('os');
const path = require('path');
const tf = require('@tensorflow/tfjs');
const { createSolver, createTfjsFunction, initBackend } = require('../dist');
const { native } = require('../dist/native');

const count = Number(process.argv[2] ?? 10000);
const fds = () => fs.readdirSync('/proc/self/fd').length;
const mb = () => (process.memoryUsage().rss / 2 ** 20).toFixed(1);
const gc = () => global.gc?.();
const heap = () => native().nativeMemory().heapInUse;
const heapMb = (b) => `${b >= 0 ? '+' : ''}${(b / 2 ** 20).toFixed(1)} MB`;

(async () => {
  await initBackend({ backend: 'cpu', quiet: true });
  const model = tf.sequential({ layers: [
    tf.layers.dense({ inputShape: [2], units: 8, activation: 'tanh', kernelInitializer: tf.initializers.glorotNormal({ seed: 1 }) }),
    tf.layers.dense({ units: 1, kernelInitializer: tf.initializers.glorotNormal({ seed: 2 }) }),
  ] });
  const x = Float32Array.from({ length: 64 }, (_, i) => Math.sin(i));
  const y = Float32Array.from({ length: 32 }, (_, i) => Math.cos(i));
  const fn = await createTfjsFunction({ model, data: { x: { values: x, shape: [32, 2] }, y: { values: y, shape: [32, 1] } }, quiet: true });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pml-leaks-'));
  const log = path.join(dir, 'run.jsonl');
  const report = (what, i, t0, base) => {
    gc();
    console.log(`${what} ${String(i).padStart(6)}: rss ${mb()} MB, C heap ${heapMb(heap() - base.heap)}, tensors ${tf.memory().numTensors} (${tf.memory().numTensors - base.tensors >= 0 ? '+' : ''}${tf.memory().numTensors - base.tensors}), ` +
      `fds ${fds()} (${fds() - base.fds >= 0 ? '+' : ''}${fds() - base.fds}), ${((performance.now() - t0) / i).toFixed(2)} ms each`);
  };
  const phases = [
    ['solves (one tr-gn solver, 1 iteration each, with a log)', () => {
      const s = createSolver(fn, { preset: 'tr-gn', epochs: 1, log });
      return { step: () => s.solve(), end: () => s.destroy() };
    }],
    ['tr-gn lifecycles (create, solve 1 iteration, destroy)', () => ({
      step: () => { const s = createSolver(fn, { preset: 'tr-gn', epochs: 1 }); s.solve(); s.destroy(); },
      end: () => {},
    })],
    // Without destroy() the Gauss-Newton operator's tensors stay (tfjs frees tensors only on
    // dispose), so this phase uses L-BFGS: its PETSc objects and callbacks must be collected.
    ['L-BFGS solvers dropped without destroy() (create, solve 1 iteration)', () => ({
      step: () => { createSolver(fn, { preset: 'lbfgs', epochs: 1, sharePrefix: true }).solve(); },
      end: () => {},
    })],
  ];
  let ok = true;
  for (const [what, make] of phases) {
    const { step, end } = make();
    step();
    gc();
    const base = { tensors: tf.memory().numTensors, fds: fds(), rss: process.memoryUsage().rss, heap: heap() };
    console.log(`${what}: start rss ${mb()} MB, tensors ${base.tensors}, fds ${base.fds}`);
    const t0 = performance.now();
    let first;
    for (let i = 1; i <= count; i++) {
      step();
      if (i % Math.max(1, Math.floor(count / 10)) === 0) {
        report('  ', i, t0, base);
        first ??= { tensors: tf.memory().numTensors, fds: fds(), heap: heap() };
      }
    }
    // Growth over the loop (one-off lazy allocations before the first report do not count).
    const leaked = tf.memory().numTensors - first.tensors, fdLeak = fds() - first.fds;
    end();
    gc();
    const syncHeap = heap() - base.heap;
    // What Node-API frees only when the event loop turns (external buffers' finalizers).
    for (let k = 0; k < 4; k++) { await new Promise((r) => setImmediate(r)); gc(); }
    const turnedHeap = heap() - base.heap;
    const heapGrowth = turnedHeap + base.heap - first.heap;
    console.log(`  C heap over the start: ${heapMb(syncHeap)} at the end of the loop, ${heapMb(turnedHeap)} once the event loop turned; ` +
      `${heapMb(heapGrowth)} over the loop after the first report`);
    // 1 KB a step over 90% of the loop would be a leak; allocator noise is far below.
    if (heapGrowth > 0.9 * count * 1024) ok = false;
    console.log(`  over the loop: tensors ${leaked >= 0 ? '+' : ''}${leaked}, fds ${fdLeak >= 0 ? '+' : ''}${fdLeak}; after destroy: tensors ` +
      `${tf.memory().numTensors - base.tensors} vs the start; rss ${((process.memoryUsage().rss - base.rss) / 2 ** 20).toFixed(1)} MB over the start`);
    if (leaked !== 0 || fdLeak !== 0 || tf.memory().numTensors > base.tensors) ok = false;
  }
  fn.dispose();
  fs.rmSync(dir, { recursive: true, force: true });
  console.log(ok ? 'leaks: none (tensors and fds flat)' : 'leaks: FOUND');
  process.exitCode = ok ? 0 : 1;
})();
