#!/usr/bin/env node
// Cost of one objective+gradient crossing, and of a whole lmvm solve at n = 10^6: petscml next to
// petsc4py (bench/crossing.py) and to the same runs with C callbacks (bench/crossing_baseline.c).
//
//   node bench/crossing.js            # all sides, table on stdout (about a minute)
//   node bench/crossing.js --json     # the raw results as JSON
//   node bench/crossing.js --quick    # fewer iterations and repetitions
//
// Crossing: lmvm with a unit step (-tao_ls_type unit, so exactly one objective+gradient call per
// iteration), tolerances 0 and a fixed number of iterations, on f = x[0], g[0] = 1: the callback
// reads one entry of x and writes one of g through the zero-copy views (petsc4py: through
// X.getArray()/G.getArray()). The time per call is the solve's wall time over the number of
// calls, so it includes TAO's own work per iteration (LMVM apply, a few vector operations); the
// C run measures that work alone, and "crossing" = language - C. At n = 10^6 the vector
// operations (several passes over 8 MB per iteration) dominate and the crossing is noise.
// Shell product loop: ShellMat.mult(x, y) from JS in a loop, the JS mult doing y[0] = x[0] (a
// Python shell matrix's mult from Python in petsc4py): a round trip through PETSc with two views,
// no TAO work, so the cost at n = 10^6 shows whether anything is O(n).
// Whole solve: lmvm with its default More-Thuente line search on the extended Rosenbrock function
// (alpha = 100) from x = 0, tolerances 0, at most 100 iterations; JavaScript as a plain loop,
// Python with numpy (as users of each write it), C as a plain loop.
//
// PARITY_PYTHON / CROSSING_PYTHON=/path/to/python3 overrides /usr/bin/python3 (python3-petsc4py).
'use strict';
const { spawnSync, execFileSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');
const petscml = require('petscml');

const { Options, ShellMat, Tao, Vec } = petscml;
const asJson = process.argv.includes('--json');
const quick = process.argv.includes('--quick');
petscml.initialize({ args: [] });

const ALPHA = 100;
const CASES = {
  small: { n: 10, iterations: quick ? 20000 : 300000, reps: quick ? 3 : 7 },
  large: { n: 1000000, iterations: quick ? 20 : 200, reps: quick ? 3 : 5 },
  solve: { n: 1000000, iterations: 100, reps: quick ? 3 : 5 },
  multSmall: { n: 10, iterations: quick ? 20000 : 300000, reps: quick ? 3 : 7 },
  // Since the bridge checks every output entry (issue 10), a product at n = 10^6 costs milliseconds,
  // not microseconds: fewer calls keep this case to seconds.
  multLarge: { n: 1000000, iterations: quick ? 100 : 1000, reps: quick ? 3 : 7 },
};

// Every entry of g is written: petscml refuses a gradient with entries left unwritten (its
// output starts filled with a marker), so g[0] = 1 alone is an error now.
function trivial(x, g) {
  g.fill(0);
  g[0] = 1;
  return x[0];
}

function rosenbrock(x, g) {
  let f = 0;
  for (let i = 0; i < x.length; i += 2) {
    const t1 = x[i + 1] - x[i] * x[i];
    const t2 = 1 - x[i];
    f += ALPHA * t1 * t1 + t2 * t2;
    g[i] = -4 * ALPHA * t1 * x[i] - 2 * t2;
    g[i + 1] = 2 * ALPHA * t1;
  }
  return f;
}

function runJs(mode, n, iterations) {
  new Options().set('tao_ls_type', mode === 'crossing' ? 'unit' : 'more-thuente');
  const body = mode === 'crossing' ? trivial : rosenbrock;
  let calls = 0;
  const x = Vec.create(n).set(0);
  const tao = new Tao({ type: 'lmvm' });
  tao.setSolution(x);
  tao.setObjectiveAndGradient((X, G) => {
    calls++;
    return body(X, G);
  });
  tao.setTolerances({ gatol: 0, grtol: 0, gttol: 0 });
  tao.maxIterations = iterations;
  tao.maxFunctionEvaluations = -1;
  tao.setFromOptions();
  const t0 = process.hrtime.bigint();
  const r = tao.solve();
  const t1 = process.hrtime.bigint();
  const out = { seconds: Number(t1 - t0) / 1e9, calls, iterations: r.iterations, reason: r.reason, f: r.f, nativeCalls: r.counts.objectiveAndGradient };
  tao.destroy();
  x.destroy();
  return out;
}

// A ShellMat product from JavaScript in a loop: JS -> MatMult -> the JS mult with views of x and
// y (y[0] = x[0]), so a round trip through PETSc with two views and no TAO work at all.
function runMult(n, calls) {
  const A = new ShellMat({ size: n, mult: (x, y) => { y.fill(0); y[0] = x[0]; } });
  const x = Vec.create(n).set(1);
  const y = Vec.create(n);
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < calls; i++) A.mult(x, y);
  const t1 = process.hrtime.bigint();
  A.destroy();
  x.destroy();
  y.destroy();
  return { seconds: Number(t1 - t0) / 1e9, calls };
}

function js(mode, c) {
  if (mode === 'mult') {
    runMult(c.n, Math.min(c.iterations, 1000));
    return Array.from({ length: c.reps }, () => runMult(c.n, c.iterations));
  }
  runJs(mode, c.n, Math.min(c.iterations, 100)); // warm-up (JIT)
  const runs = [];
  for (let r = 0; r < c.reps; r++) runs.push(runJs(mode, c.n, c.iterations));
  return runs;
}

function python(mode, c) {
  const py = process.env.CROSSING_PYTHON || process.env.PARITY_PYTHON || '/usr/bin/python3';
  const p = spawnSync(py, [path.join(__dirname, 'crossing.py'), mode, String(c.n), String(c.iterations), String(c.reps)], { encoding: 'utf8', maxBuffer: 16 << 20 });
  if (p.error || p.status !== 0) throw new Error(`${py} bench/crossing.py failed: ${p.error ? p.error.message : p.stderr}`);
  return JSON.parse(p.stdout).bodies;
}

let baselineBin = null;
function cBaseline(mode, c) {
  if (baselineBin === null) {
    const out = path.join(os.tmpdir(), `petscml-crossing-baseline-${process.pid}`);
    try {
      const flags = execFileSync('pkg-config', ['--cflags', '--libs', 'petsc'], { encoding: 'utf8' }).trim().split(/\s+/);
      execFileSync('mpicc', ['-O2', path.join(__dirname, 'crossing_baseline.c'), ...flags, '-o', out], { stdio: 'pipe' });
      baselineBin = out;
      process.on('exit', () => fs.rmSync(out, { force: true }));
    } catch (e) {
      baselineBin = false;
      process.stderr.write(`C baseline not built (needs mpicc and pkg-config petsc): ${e.message.split('\n')[0]}\n`);
    }
  }
  if (!baselineBin) return null;
  return JSON.parse(execFileSync(baselineBin, [mode, String(c.n), String(c.iterations), String(c.reps)], { encoding: 'utf8' })).runs;
}

const median = (a) => {
  const s = [...a].sort((p, q) => p - q);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const perCallUs = (runs) => (runs ? median(runs.map((r) => (r.seconds / r.calls) * 1e6)) : NaN);
const wallS = (runs) => (runs ? median(runs.map((r) => r.seconds)) : NaN);

function main() {
  const v = petscml.version();
  const res = { petsc: v.text.trim(), node: process.version, cases: CASES, crossing: {}, solve: {} };
  for (const key of ['small', 'large']) {
    const c = CASES[key];
    const py = python('crossing', c);
    res.crossing[key] = { n: c.n, petscml: js('crossing', c), petsc4py: py.array, petsc4pyNoArray: py.noarray, c: cBaseline('crossing', c) };
  }
  res.mult = {};
  for (const key of ['multSmall', 'multLarge']) {
    const c = CASES[key];
    res.mult[key] = { n: c.n, petscml: js('mult', c), petsc4py: python('mult', c).array };
  }
  const c = CASES.solve;
  res.solve = { n: c.n, petscml: js('solve', c), petsc4py: python('solve', c).rosenbrock, c: cBaseline('solve', c) };

  const summary = {};
  for (const key of ['small', 'large']) {
    const r = res.crossing[key];
    const base = perCallUs(r.c);
    const s = {
      n: r.n,
      perCallUs: { petscml: perCallUs(r.petscml), petsc4py: perCallUs(r.petsc4py), petsc4pyNoArray: perCallUs(r.petsc4pyNoArray), c: base },
    };
    s.crossingUs = { petscml: s.perCallUs.petscml - base, petsc4py: s.perCallUs.petsc4py - base, petsc4pyNoArray: s.perCallUs.petsc4pyNoArray - base };
    s.ratio = s.perCallUs.petscml / s.perCallUs.petsc4py;
    s.crossingRatio = s.crossingUs.petscml / s.crossingUs.petsc4py;
    summary[key] = s;
  }
  for (const key of ['multSmall', 'multLarge']) {
    const r = res.mult[key];
    summary[key] = { n: r.n, perCallUs: { petscml: perCallUs(r.petscml), petsc4py: perCallUs(r.petsc4py) } };
    summary[key].ratio = summary[key].perCallUs.petscml / summary[key].perCallUs.petsc4py;
  }
  const sv = res.solve;
  summary.solve = {
    n: sv.n,
    seconds: { petscml: wallS(sv.petscml), petsc4py: wallS(sv.petsc4py), c: wallS(sv.c) },
    iterations: { petscml: sv.petscml[0].iterations, petsc4py: sv.petsc4py[0].iterations, c: sv.c ? sv.c[0].iterations : null },
    calls: { petscml: sv.petscml[0].calls, petsc4py: sv.petsc4py[0].calls, c: sv.c ? sv.c[0].calls : null },
  };
  summary.solve.ratio = summary.solve.seconds.petscml / summary.solve.seconds.petsc4py;
  res.summary = summary;

  if (asJson) {
    process.stdout.write(JSON.stringify(res) + '\n');
    return;
  }
  const f = (x, d = 2) => (Number.isFinite(x) ? x.toFixed(d) : 'n/a');
  console.log(`PETSc ${res.petsc}, Node ${res.node}; medians of ${CASES.small.reps} / ${CASES.large.reps} / ${CASES.solve.reps} repetitions`);
  console.log('objective+gradient per call (us), lmvm + unit step, f = x[0], g[0] = 1, including TAO\'s own work per iteration:');
  console.log('  n         calls   petscml  petsc4py(getArray)  petsc4py(no arrays)      C   petscml/petsc4py');
  for (const key of ['small', 'large']) {
    const s = summary[key];
    console.log(`  ${String(s.n).padEnd(8)} ${String(CASES[key].iterations).padStart(7)} ${f(s.perCallUs.petscml).padStart(9)} ${f(s.perCallUs.petsc4py).padStart(19)} ${f(s.perCallUs.petsc4pyNoArray).padStart(20)} ${f(s.perCallUs.c).padStart(6)} ${f(s.ratio).padStart(18)}`);
  }
  console.log('crossing alone (us) = per call - C:');
  for (const key of ['small', 'large']) {
    const s = summary[key];
    console.log(`  n = ${s.n}: petscml ${f(s.crossingUs.petscml)}, petsc4py with getArray ${f(s.crossingUs.petsc4py)}, petsc4py without arrays ${f(s.crossingUs.petsc4pyNoArray)}; petscml/petsc4py ${f(s.crossingRatio)}`);
  }
  console.log('shell matrix product called in a loop, y[0] = x[0] through views / getArray (us per product, no TAO):');
  for (const key of ['multSmall', 'multLarge']) {
    const s = summary[key];
    console.log(`  n = ${s.n}: petscml ${f(s.perCallUs.petscml)}, petsc4py ${f(s.perCallUs.petsc4py)}; petscml/petsc4py ${f(s.ratio)}`);
  }
  const so = summary.solve;
  console.log(`whole lmvm solve, extended Rosenbrock n = ${so.n} from 0, at most ${CASES.solve.iterations} iterations (wall s):`);
  console.log(`  petscml ${f(so.seconds.petscml, 3)} (${so.iterations.petscml} its, ${so.calls.petscml} f+g), petsc4py+numpy ${f(so.seconds.petsc4py, 3)} (${so.iterations.petsc4py} its, ${so.calls.petsc4py} f+g), C ${f(so.seconds.c, 3)} (${so.iterations.c} its, ${so.calls.c} f+g); petscml/petsc4py ${f(so.ratio)}`);
}

main();
