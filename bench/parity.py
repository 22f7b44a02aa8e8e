#!/usr/bin/python3
# petsc4py side of bench/parity.js: reads the run list (JSON) on stdin, runs each TAO solve on the
# extended Rosenbrock function with the same arithmetic, in the same order, as the JavaScript side,
# and prints one JSON object with the results on stdout.
#
# Run it through `node bench/parity.js` (which sends the runs and compares). Must be Debian's
# /usr/bin/python3 (python3-petsc4py), not a pyenv python3.
import json
import struct
import sys

import petsc4py

petsc4py.init([])  # no command-line options: both sides get exactly the options in the run list
from petsc4py import PETSc  # noqa: E402

ALPHA = 100.0


def rosenbrock_fg(x, g):
    """f and (if g is not None) its gradient; a plain left-to-right loop over the pairs, like parity.js."""
    f = 0.0
    for i in range(0, len(x), 2):
        t1 = x[i + 1] - x[i] * x[i]
        t2 = 1 - x[i]
        f += ALPHA * t1 * t1 + t2 * t2
        if g is not None:
            g[i] = -4 * ALPHA * t1 * x[i] - 2 * t2
            g[i + 1] = 2 * ALPHA * t1
    return f


class Counts:
    def __init__(self):
        self.objective = 0
        self.gradient = 0
        self.objectiveAndGradient = 0
        self.hessian = 0
        self.hessianMult = 0
        self.diagonal = 0


class Hessian:
    """Shell Hessian of the extended Rosenbrock at the last linearization point (no getDiagonal).

    NLS and BNLS shift an indefinite Hessian (MatShift(H, pert)) after each Hessian evaluation.
    petscml's ShellMat is a MATSHELL, which keeps the shift itself, adds it after the user's
    product (y = A v, then VecAXPY(y, shift, v)) and resets it only in MatAssemblyEnd. petscml does
    not assemble the Hessian between evaluations, so its shifts accumulate over the solve; a Python
    shell gets the shifts through shift(): this class does what MATSHELL does, and resets the
    shift at a Hessian evaluation only when the run says the bridge does ('shiftResetPerHessian').
    """

    def __init__(self, n, counts):
        self.point = [0.0] * n
        self.counts = counts
        self.vshift = 0.0

    def shift(self, mat, a):
        self.vshift += a

    def mult(self, mat, v, y):
        self.counts.hessianMult += 1
        p = self.point
        va = v.getArray(readonly=True).tolist()
        ya = [0.0] * len(va)
        for i in range(0, len(va), 2):
            a = p[i]
            b = p[i + 1]
            h00 = 12 * ALPHA * a * a - 4 * ALPHA * b + 2
            h01 = -4 * ALPHA * a
            h11 = 2 * ALPHA
            ya[i] = h00 * va[i] + h01 * va[i + 1]
            ya[i + 1] = h01 * va[i] + h11 * va[i + 1]
        y.getArray()[:] = ya
        if self.vshift != 0.0:
            y.axpy(self.vshift, v)


class HessianWithDiagonal(Hessian):
    """The same shell with getDiagonal (petscml's ShellMat getDiagonal): Jacobi becomes the default PC."""

    def getDiagonal(self, mat, d):
        self.counts.diagonal += 1
        p = self.point
        da = [0.0] * len(p)
        for i in range(0, len(p), 2):
            a = p[i]
            b = p[i + 1]
            da[i] = 12 * ALPHA * a * a - 4 * ALPHA * b + 2
            da[i + 1] = 2 * ALPHA
        d.getArray()[:] = da
        if self.vshift != 0.0:
            d.shift(self.vshift)


def bits(v):
    """The IEEE-754 bit pattern (big-endian hex), to compare results exactly."""
    return struct.pack('>d', v).hex()


def run_one(k, run):
    n = run['n']
    prefix = 'r%d_' % k
    opts = PETSc.Options()
    for name, value in run.get('options', {}).items():
        opts.setValue('-' + prefix + name, None if value is True else str(value))

    c = Counts()
    x = PETSc.Vec().createSeq(n, comm=PETSc.COMM_SELF)
    x.setArray([float(v) for v in run['x0']])

    def objective(tao, X):
        c.objective += 1
        return rosenbrock_fg(X.getArray(readonly=True).tolist(), None)

    def gradient(tao, X, G):
        c.gradient += 1
        g = [0.0] * n
        rosenbrock_fg(X.getArray(readonly=True).tolist(), g)
        G.getArray()[:] = g

    def objective_gradient(tao, X, G):
        c.objectiveAndGradient += 1
        g = [0.0] * n
        f = rosenbrock_fg(X.getArray(readonly=True).tolist(), g)
        G.getArray()[:] = g
        return f

    ctx = (HessianWithDiagonal if run.get('diagonal') else Hessian)(n, c)
    H = PETSc.Mat().createPython([n, n], context=ctx, comm=PETSc.COMM_SELF)
    H.setUp()

    def hessian(tao, X, Hm, P):
        c.hessian += 1
        ctx.point = X.getArray(readonly=True).tolist()
        if run.get('shiftResetPerHessian'):
            ctx.vshift = 0.0
            # Assemble, as petscml's Hessian trampoline does (native/tao.cc) and as PETSc's own
            # Hessian routines do: MatAssemblyEnd raises the matrix's state, which is what tells
            # the PC that the operator changed. Without it, a Hessian that NLS did not shift keeps
            # its state, and Jacobi keeps the diagonal of the first point for the whole solve
            # (nls/diag from x = 0: 1 getDiagonal call for 15 Hessians). Whether that stale
            # preconditioner costs extra CG iterations depends on rounding, so the counts then
            # differed on some BLAS kernels only (Haswell/Zen: 36 products against 33).
            Hm.assemble()

    tao = PETSc.TAO().create(comm=PETSc.COMM_SELF)
    tao.setOptionsPrefix(prefix)
    tao.setType(run['type'])
    tao.setObjective(objective)
    tao.setGradient(gradient, None)
    tao.setObjectiveGradient(objective_gradient, None)
    tao.setHessian(hessian, H, H)
    tao.setSolution(x)
    if run.get('bounds'):
        lo = PETSc.Vec().createSeq(n, comm=PETSc.COMM_SELF)
        hi = PETSc.Vec().createSeq(n, comm=PETSc.COMM_SELF)
        lo.setArray([float(v) for v in run['bounds']['lower']])
        hi.setArray([float(v) for v in run['bounds']['upper']])
        tao.setVariableBounds((lo, hi))
    tao.setMaximumIterations(run['maxIt'])
    tao.setFromOptions()

    # petscml's rule for a shell Hessian (native/tao.cc, DefaultShellPC), applied at the same
    # point (after TaoSetUp, before TaoSolve): unless -<prefix>..._pc_type was given, a default
    # PC that needs matrix entries (ILU, ICC, block Jacobi, ASM) or no type yet becomes Jacobi when
    # the shell has getDiagonal (runs with 'diagonal'), else none.
    tao.setUp()
    pc_before = pc_after = None
    ksp = tao.getKSP()
    if not ksp:  # petsc4py wraps a NULL KSP (lmvm, cg, nm): falsy, but not None
        ksp = None
    if ksp is not None:
        pc = ksp.getPC()
        pc_before = pc.getType()
        kprefix = ksp.getOptionsPrefix() or ''
        if not opts.hasName(kprefix + 'pc_type') and (pc_before in (None, 'ilu', 'icc', 'bjacobi', 'asm')):
            pc.setType('jacobi' if run.get('diagonal') else 'none')
        pc_after = pc.getType()
    tao.solve()

    its, f, gnorm, cnorm, xdiff, reason = tao.getSolutionStatus()
    xs = x.getArray(readonly=True).tolist()
    for name in run.get('options', {}):
        opts.delValue('-' + prefix + name)
    out = {
        'name': run['name'],
        'type': tao.getType(),
        'iterations': its,
        'reason': int(reason),
        'f': f,
        'fBits': bits(f),
        'gnormBits': bits(gnorm),
        'xBits': [bits(v) for v in xs],
        'counts': {
            'objective': c.objective,
            'gradient': c.gradient,
            'objectiveAndGradient': c.objectiveAndGradient,
            'hessian': c.hessian,
            'hessianMult': c.hessianMult,
            'diagonal': c.diagonal,
        },
        'pc': pc_after,
        'pcDefault': pc_before,
        'ksp': ksp.getType() if ksp is not None else None,
    }
    tao.destroy()
    H.destroy()
    x.destroy()
    return out


def main():
    spec = json.load(sys.stdin)
    results = [run_one(k, run) for k, run in enumerate(spec['runs'])]
    json.dump({'petsc': '.'.join(map(str, PETSc.Sys.getVersion())), 'results': results}, sys.stdout)
    sys.stdout.write('\n')


if __name__ == '__main__':
    main()
