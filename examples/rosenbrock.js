// Extended Rosenbrock minimized by any TAO solver, with objective, gradient and Hessian-vector
// products written in JavaScript.
//
//   node examples/rosenbrock.js                         # L-BFGS (lmvm)
//   node examples/rosenbrock.js -tao_type ntr -tao_monitor
//   node examples/rosenbrock.js -tao_type bntr -n 1000 -tao_view
//   mpirun -n 2 node examples/rosenbrock.js -tao_type nls   # distributed over 2 ranks
//
// Every PETSc option works on the command line, as for a PETSc C program.
const { Options, ShellMat, Tao, Vec, comm } = require('petscml');

const { rank, size } = comm(); // initializes PETSc (and MPI) from process.argv
const n = Number(new Options().get('n') ?? 100); // -n 100: number of variables (even)
const alpha = 100;

// Each rank owns a contiguous block of x; with an even block size every (x[2i], x[2i+1]) pair
// is local, so each rank computes its own share of f and the solver sums the shares.
const local = 2 * (Math.floor(n / 2 / size) + (rank < (n / 2) % size ? 1 : 0));
const x = Vec.create({ local, global: n, comm: 'world' });
x.set(0); // starting point

function objectiveAndGradient(x, g) {
  let f = 0;
  for (let i = 0; i < x.length; i += 2) {
    const t1 = x[i + 1] - x[i] * x[i];
    const t2 = 1 - x[i];
    f += alpha * t1 * t1 + t2 * t2;
    g[i] = -4 * alpha * t1 * x[i] - 2 * t2;
    g[i + 1] = 2 * alpha * t1;
  }
  return f;
}

// The Hessian is never formed: the solver asks for products H(x) v through this shell.
let point = new Float64Array(local);
const H = new ShellMat({
  localRows: local, localCols: local, comm: 'world',
  mult(v, y) {
    for (let i = 0; i < v.length; i += 2) {
      const a = point[i], b = point[i + 1];
      const h00 = 12 * alpha * a * a - 4 * alpha * b + 2, h01 = -4 * alpha * a, h11 = 2 * alpha;
      y[i] = h00 * v[i] + h01 * v[i + 1];
      y[i + 1] = h01 * v[i] + h11 * v[i + 1];
    }
  },
});

const tao = new Tao({ comm: 'world', type: 'lmvm' });
tao.setObjectiveAndGradient(objectiveAndGradient);
tao.setHessian(H, (xk) => point.set(xk)); // copy: views are only valid during the callback
tao.setSolution(x);
tao.setFromOptions(); // -tao_type, -tao_monitor, -tao_gatol, ...

const result = tao.solve();
const err = x.copy().axpy(-1, x.duplicate().set(1)).norm('inf'); // distance to the minimizer (1,...,1)
if (rank === 0) {
  console.log(`${tao.type}: ${result.reasonName} after ${result.iterations} iterations, f = ${result.f.toExponential(3)}, ` +
    `|x - 1|_inf = ${err.toExponential(2)}`);
  console.log(`evaluations: ${JSON.stringify(result.counts)}`);
}
