#!/usr/bin/env node
// Parity with PETSc itself: the same TAO runs through petscml and through petsc4py, compared.
//
//   node bench/parity.js          # table; exit code 1 if any count differs
//   node bench/parity.js --json   # machine-readable results on stdout (same exit code)
//
// Each run minimizes the extended Rosenbrock function (alpha = 100, n = 100; Nelder-Mead n = 2)
// with one TAO type and the same options and starting point on both sides, from x = 0 and from a
// start where every pair differs (see start()). The objective, gradient and Hessian-vector products are a
// plain left-to-right loop over the pairs (x[2i], x[2i+1]) in both languages, with the same
// expressions in the same order, so both sides compute bitwise the same values. Every callback is
// counted where it is called (objective, gradient, objective+gradient, Hessian evaluations,
// Hessian-vector products, shell diagonals), and the petscml counts are also compared with tao.solve().counts.
//
// PC: petscml replaces a default PC that needs matrix entries by 'none' for a shell Hessian
// without getDiagonal (native/tao.cc, DefaultShellPC, after TaoSetUp). bench/parity.py applies
// the same rule at the same point with petsc4py (Jacobi for the runs whose shell has getDiagonal);
// the table shows the PC each side ended with.
//
// The petsc4py side is bench/parity.py, run with Debian's /usr/bin/python3 (python3-petsc4py);
// override with PARITY_PYTHON=/path/to/python3.
'use strict';
const { spawnSync } = require('child_process');
const path = require('path');
const petscml = require('petscml');

const { Options, ShellMat, Tao, Vec } = petscml;
const asJson = process.argv.includes('--json');
petscml.initialize({ args: [] }); // no PETSc options from the command line: only the run list's

const ALPHA = 100;
const N = 100;

// Upper bound 0.9 on every fourth entry (x[4k]): at the unconstrained minimizer (all ones) these
// bounds are violated, so they are active at the solution; lower bounds are -infinity.
function bounds(n) {
  const lower = new Array(n).fill(-Infinity);
  const upper = Array.from({ length: n }, (_, i) => (i % 4 === 0 ? 0.9 : Infinity));
  return { lower, upper };
}

// NLS and BNLS shift an indefinite Hessian by pert*I after each Hessian evaluation (MatShift).
// A MATSHELL keeps shifts until MatAssemblyEnd; petscml's Hessian trampoline assembles the shell at
// each evaluation, so the shift is reset as in PETSc's C examples. bench/parity.py does the same
// when this is true. (Before the fix, shifts piled up: nls from the spread start took 803
// iterations instead of 27.)
const SHIFT_RESET_PER_HESSIAN = true;

// Starting points. x = 0 gives every pair (x[2i], x[2i+1]) the same values, and since the pairs
// are independent they stay equal for the whole solve: the Hessian then has at most two distinct
// eigenvalues, so CG needs two iterations whatever the preconditioner, and the run is really an
// n = 2 problem (bounds on some entries break the symmetry). The 'spread' start gives each pair
// its own values, so Krylov iterations and preconditioners matter. The values are computed here
// and sent to Python as JSON numbers, which round-trip exactly.
function start(kind, n) {
  if (kind === 'zero') return new Array(n).fill(0);
  const x = new Array(n);
  for (let k = 0; k < n / 2; k++) {
    x[2 * k] = -1.2 + 0.02 * k;
    x[2 * k + 1] = 1 - 0.01 * k;
  }
  return x;
}

const BASE = [
  { name: 'lmvm', type: 'lmvm' },
  { name: 'nls', type: 'nls' },
  { name: 'ntr/stcg', type: 'ntr', options: { tao_ntr_ksp_type: 'stcg' } },
  { name: 'ntr/nash', type: 'ntr', options: { tao_ntr_ksp_type: 'nash' } },
  { name: 'ntr/gltr', type: 'ntr', options: { tao_ntr_ksp_type: 'gltr' } },
  { name: 'nls/lmvm', type: 'nls', options: { tao_nls_pc_type: 'lmvm' } }, // a PC chosen by the user is kept
  { name: 'nls/diag', type: 'nls', diagonal: true }, // shell with getDiagonal: Jacobi by default
  { name: 'ntl', type: 'ntl' },
  { name: 'cg', type: 'cg' },
  { name: 'nm', type: 'nm', n: 2 },
  { name: 'blmvm', type: 'blmvm', bounded: true },
  { name: 'bnls', type: 'bnls', bounded: true },
  { name: 'bntr', type: 'bntr', bounded: true },
  { name: 'tron', type: 'tron', bounded: true },
  { name: 'tron/diag', type: 'tron', bounded: true, diagonal: true },
  { name: 'bqnls', type: 'bqnls', bounded: true },
  { name: 'bqnktr', type: 'bqnktr', bounded: true },
];

const RUNS = [];
for (const x0 of ['zero', 'spread']) {
  for (const r of BASE) {
    if (r.type === 'nm' && x0 !== 'zero') continue; // Nelder-Mead: n = 2 from 0 only
    const n = r.n ?? N;
    RUNS.push({
      name: r.name,
      start: x0,
      type: r.type,
      n,
      x0: start(x0, n),
      // From 'spread', lmvm, blmvm, bqnls and bqnktr are still iterating after 500 iterations (f ~ 1e-12,
      // same in petsc4py) and NLS/BNLS take hundreds (the shift above): capped to keep the run short.
      maxIt: r.type === 'nm' ? 5000 : x0 === 'zero' ? 2000 : 500,
      options: r.options ?? {},
      bounds: r.bounded ? bounds(n) : null,
      diagonal: r.diagonal === true,
      shiftResetPerHessian: SHIFT_RESET_PER_HESSIAN,
    });
  }
}

function rosenbrock(x, g) {
  let f = 0;
  for (let i = 0; i < x.length; i += 2) {
    const t1 = x[i + 1] - x[i] * x[i];
    const t2 = 1 - x[i];
    f += ALPHA * t1 * t1 + t2 * t2;
    if (g !== null) {
      g[i] = -4 * ALPHA * t1 * x[i] - 2 * t2;
      g[i + 1] = 2 * ALPHA * t1;
    }
  }
  return f;
}

const bitsBuf = new DataView(new ArrayBuffer(8));
function bits(v) {
  bitsBuf.setFloat64(0, v, false); // big-endian, as parity.py's struct.pack('>d')
  let s = '';
  for (let i = 0; i < 8; i++) s += bitsBuf.getUint8(i).toString(16).padStart(2, '0');
  return s;
}

function runOne(k, run) {
  const { n } = run;
  const prefix = `r${k}_`;
  const opts = new Options(prefix);
  for (const [name, value] of Object.entries(run.options)) opts.set(name, value);

  const c = { objective: 0, gradient: 0, objectiveAndGradient: 0, hessian: 0, hessianMult: 0, diagonal: 0 };
  const x = Vec.fromArray(run.x0);
  let point = new Float64Array(n);
  const H = new ShellMat({
    size: n,
    mult(v, y) {
      c.hessianMult++;
      const p = point;
      for (let i = 0; i < v.length; i += 2) {
        const a = p[i];
        const b = p[i + 1];
        const h00 = 12 * ALPHA * a * a - 4 * ALPHA * b + 2;
        const h01 = -4 * ALPHA * a;
        const h11 = 2 * ALPHA;
        y[i] = h00 * v[i] + h01 * v[i + 1];
        y[i + 1] = h01 * v[i] + h11 * v[i + 1];
      }
    },
    ...(run.diagonal ? {
      getDiagonal(d) {
        c.diagonal++;
        const p = point;
        for (let i = 0; i < p.length; i += 2) {
          const a = p[i];
          const b = p[i + 1];
          d[i] = 12 * ALPHA * a * a - 4 * ALPHA * b + 2;
          d[i + 1] = 2 * ALPHA;
        }
      },
    } : {}),
  });

  const tao = new Tao({ type: run.type, prefix });
  tao.setObjective((X) => {
    c.objective++;
    return rosenbrock(X, null);
  });
  tao.setGradient((X, G) => {
    c.gradient++;
    rosenbrock(X, G);
  });
  tao.setObjectiveAndGradient((X, G) => {
    c.objectiveAndGradient++;
    return rosenbrock(X, G);
  });
  tao.setHessian(H, (X) => {
    c.hessian++;
    point = Float64Array.from(X);
  });
  tao.setSolution(x);
  let lo, hi;
  if (run.bounds) {
    lo = Vec.fromArray(run.bounds.lower);
    hi = Vec.fromArray(run.bounds.upper);
    tao.setVariableBounds(lo, hi);
  }
  tao.maxIterations = run.maxIt;
  tao.setFromOptions();
  const r = tao.solve();
  const ksp = tao.ksp;
  const xs = x.toArray();
  const out = {
    name: run.name,
    type: tao.type,
    iterations: r.iterations,
    reason: r.reason,
    f: r.f,
    fBits: bits(r.f),
    gnormBits: bits(r.gnorm),
    xBits: Array.from(xs, bits),
    counts: c,
    nativeCounts: r.counts,
    pc: ksp ? ksp.pc.type : null,
    ksp: ksp ? ksp.type : null,
  };
  for (const name of Object.keys(run.options)) opts.delete(name);
  tao.destroy();
  H.destroy();
  x.destroy();
  if (lo) lo.destroy();
  if (hi) hi.destroy();
  return out;
}

function runPython(runs) {
  const python = process.env.PARITY_PYTHON || '/usr/bin/python3';
  const p = spawnSync(python, [path.join(__dirname, 'parity.py')], {
    // JSON has no infinity: send it as the strings 'inf' / '-inf', which Python's float() reads.
    input: JSON.stringify({ runs }, (k, v) => (typeof v === 'number' && !Number.isFinite(v) ? (v > 0 ? 'inf' : '-inf') : v)),
    encoding: 'utf8',
    maxBuffer: 64 << 20,
  });
  if (p.error || p.status !== 0) {
    throw new Error(`${python} bench/parity.py failed (${p.error ? p.error.message : `exit ${p.status}`}):\n${p.stderr}`);
  }
  return JSON.parse(p.stdout);
}

const COUNT_KEYS = ['objective', 'gradient', 'objectiveAndGradient', 'hessian', 'hessianMult', 'diagonal'];

function compare(js, py) {
  const diffs = [];
  if (js.type !== py.type) diffs.push(`type ${js.type} vs ${py.type}`);
  if (js.iterations !== py.iterations) diffs.push(`iterations ${js.iterations} vs ${py.iterations}`);
  if (js.reason !== py.reason) diffs.push(`reason ${js.reason} vs ${py.reason}`);
  for (const k of COUNT_KEYS) {
    if (js.counts[k] !== py.counts[k]) diffs.push(`${k} ${js.counts[k]} vs ${py.counts[k]}`);
  }
  // The bridge's own counters must agree with what the callbacks saw (it does not count getDiagonal).
  for (const k of COUNT_KEYS.filter((key) => key !== 'diagonal')) {
    if (js.nativeCounts[k] !== js.counts[k]) diffs.push(`petscml counts.${k} ${js.nativeCounts[k]} but callbacks saw ${js.counts[k]}`);
  }
  if (js.nativeCounts.iterations !== js.iterations) diffs.push(`petscml counts.iterations ${js.nativeCounts.iterations} vs ${js.iterations}`);
  if (js.pc !== py.pc) diffs.push(`pc ${js.pc} vs ${py.pc}`);
  const bitwise = js.fBits === py.fBits && js.gnormBits === py.gnormBits &&
    js.xBits.length === py.xBits.length && js.xBits.every((b, i) => b === py.xBits[i]);
  return { countsEqual: diffs.length === 0, bitwise, diffs };
}

function main() {
  const js = RUNS.map((run, k) => runOne(k, run));
  const py = runPython(RUNS);
  const rows = RUNS.map((run, k) => {
    const cmp = compare(js[k], py.results[k]);
    return { name: run.name, start: run.start, n: run.n, bounded: run.bounds !== null, options: run.options, petscml: js[k], petsc4py: py.results[k], ...cmp };
  });
  const ok = rows.every((r) => r.countsEqual);
  const v = petscml.version();
  if (asJson) {
    // x itself is left out (compared bit for bit above: `bitwise`).
    const strip = ({ xBits, ...rest }) => rest;
    const out = rows.map((r) => ({ ...r, petscml: strip(r.petscml), petsc4py: strip(r.petsc4py) }));
    process.stdout.write(JSON.stringify({ ok, petsc: v.text, petsc4py: py.petsc, shiftResetPerHessian: SHIFT_RESET_PER_HESSIAN, rows: out }) + '\n');
  } else {
    const pad = (s, w) => String(s).padEnd(w);
    const padl = (s, w) => String(s).padStart(w);
    console.log(`PETSc ${v.text} (petscml) / ${py.petsc} (petsc4py), extended Rosenbrock alpha=${ALPHA}`);
    console.log(`counts: f = objective, g = gradient, fg = objective+gradient, H = Hessian evaluations, Hv = Hessian products; each cell petscml/petsc4py`);
    console.log([pad('run', 10), pad('start', 6), padl('n', 4), padl('its', 10), padl('f', 8), padl('g', 8), padl('fg', 10), padl('H', 9), padl('Hv', 11), padl('diag', 5), padl('kspits', 6), '  ' + pad('ksp/pc', 11), pad('counts', 7), 'f,x bitwise'].join(' '));
    for (const r of rows) {
      const a = r.petscml, b = r.petsc4py;
      const cell = (x, y, w) => padl(x === y ? `${x}` : `${x}/${y}`, w);
      console.log([
        pad(r.name, 10), pad(r.start, 6), padl(r.n, 4), cell(a.iterations, b.iterations, 10),
        cell(a.counts.objective, b.counts.objective, 8), cell(a.counts.gradient, b.counts.gradient, 8),
        cell(a.counts.objectiveAndGradient, b.counts.objectiveAndGradient, 10), cell(a.counts.hessian, b.counts.hessian, 9),
        cell(a.counts.hessianMult, b.counts.hessianMult, 11), cell(a.counts.diagonal, b.counts.diagonal, 5), padl(a.nativeCounts.kspIterations, 6),
        '  ' + pad(a.ksp ? `${a.ksp}/${a.pc}` : '-', 11), pad(r.countsEqual ? 'equal' : 'DIFFER', 7), r.bitwise ? 'yes' : 'no',
      ].join(' '));
      for (const d of r.diffs) console.log(`    ${d}`);
    }
    console.log(ok ? 'all counts equal' : 'SOME COUNTS DIFFER');
  }
  process.exitCode = ok ? 0 : 1;
}

main();
