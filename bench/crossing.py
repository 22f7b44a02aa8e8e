#!/usr/bin/python3
# petsc4py side of bench/crossing.js (run that: it runs all sides and prints the table).
#   /usr/bin/python3 bench/crossing.py crossing <n> <iterations> <reps>
#   /usr/bin/python3 bench/crossing.py solve <n> <iterations> <reps>
#   /usr/bin/python3 bench/crossing.py mult <n> <calls> <reps>
# Prints one JSON line. Must be Debian's /usr/bin/python3 (python3-petsc4py).
#
# crossing: lmvm with a unit step (-tao_ls_type unit: one objective+gradient call per iteration),
#   tolerances 0, a fixed number of iterations, and the trivial body f = x[0], g[0] = 1 reached
#   through X.getArray()/G.getArray() as petsc4py users write it ('array'); 'noarray' is the same
#   solve with a body that touches no array (g[0] = 1 is set once before the solve, f = 0) to show
#   what getArray costs.
# mult: a Python shell matrix's product called from Python in a loop (y[0] = x[0] through
#   getArray): two crossings (Python -> PETSc -> Python) with array access, no TAO work.
# solve: lmvm (More-Thuente line search) on the extended Rosenbrock function, written with numpy
#   as petsc4py users do (vectorized; np.sum), from x = 0, tolerances 0, at most <iterations>.
import json
import sys
import time

import numpy as np
import petsc4py

petsc4py.init([])
from petsc4py import PETSc  # noqa: E402

ALPHA = 100.0


def trivial_array(tao, X, G):
    x = X.getArray(readonly=True)
    g = G.getArray()
    g[0] = 1.0
    return x[0]


def trivial_noarray(tao, X, G):
    return 0.0


def rosenbrock(tao, X, G):
    x = X.getArray(readonly=True)
    g = G.getArray()
    x0 = x[0::2]
    x1 = x[1::2]
    t1 = x1 - x0 * x0
    t2 = 1.0 - x0
    g[0::2] = -4.0 * ALPHA * t1 * x0 - 2.0 * t2
    g[1::2] = 2.0 * ALPHA * t1
    return float(np.sum(ALPHA * t1 * t1 + t2 * t2))


def run(mode, body, n, its):
    calls = [0]
    fn = {'array': trivial_array, 'noarray': trivial_noarray, 'rosenbrock': rosenbrock}[body]

    def counted(tao, X, G):
        calls[0] += 1
        return fn(tao, X, G)

    opts = PETSc.Options()
    opts.setValue('-tao_ls_type', 'unit' if mode == 'crossing' else 'more-thuente')
    x = PETSc.Vec().createSeq(n, comm=PETSc.COMM_SELF)
    x.set(0.0)
    g = x.duplicate()
    g.set(0.0)
    if body == 'noarray':
        g.setValue(0, 1.0)  # TAO passes its own gradient vectors: this one is only the first
    tao = PETSc.TAO().create(comm=PETSc.COMM_SELF)
    tao.setType('lmvm')
    tao.setSolution(x)
    tao.setObjectiveGradient(counted, g)
    tao.setTolerances(0.0, 0.0, 0.0)
    tao.setMaximumIterations(its)
    tao.setMaximumFunctionEvaluations(-1)
    tao.setFromOptions()
    t0 = time.perf_counter()
    tao.solve()
    t1 = time.perf_counter()
    out = {'seconds': t1 - t0, 'calls': calls[0], 'iterations': tao.getIterationNumber(),
           'reason': int(tao.getConvergedReason()), 'f': tao.getObjectiveValue()}
    tao.destroy()
    x.destroy()
    g.destroy()
    return out


class TrivialMult:
    def mult(self, mat, x, y):
        xa = x.getArray(readonly=True)
        ya = y.getArray()
        ya[0] = xa[0]


def run_mult(n, its):
    """A shell (Python) matrix product from Python: MatMult -> the Python mult, its times in a loop."""
    A = PETSc.Mat().createPython([n, n], context=TrivialMult(), comm=PETSc.COMM_SELF)
    A.setUp()
    x = A.createVecRight()
    y = A.createVecLeft()
    x.set(1.0)
    mult = A.mult
    t0 = time.perf_counter()
    for _ in range(its):
        mult(x, y)
    t1 = time.perf_counter()
    A.destroy()
    return {'seconds': t1 - t0, 'calls': its}


def main():
    mode, n, its, reps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    if mode == 'mult':
        run_mult(n, min(its, 1000))
        print(json.dumps({'mode': mode, 'n': n, 'bodies': {'array': [run_mult(n, its) for _ in range(reps)]}}))
        return
    bodies = ['array', 'noarray'] if mode == 'crossing' else ['rosenbrock']
    result = {'mode': mode, 'n': n, 'bodies': {}}
    for body in bodies:
        run(mode, body, n, min(its, 100))  # warm-up
        result['bodies'][body] = [run(mode, body, n, its) for _ in range(reps)]
    print(json.dumps(result))


if __name__ == '__main__':
    main()
