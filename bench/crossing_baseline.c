/* C baseline for bench/crossing.js: the same TAO runs with the callbacks in C, so that TAO's own
 * work per iteration can be told apart from the cost of crossing into JavaScript or Python.
 * Built and run by crossing.js (mpicc + pkg-config petsc); prints one JSON line.
 *   crossing_baseline crossing <n> <iterations> <reps>
 *   crossing_baseline solve <n> <iterations> <reps>
 */
#include <petsctao.h>
#include <stdlib.h>
#include <string.h>

static long calls;

/* Trivial body: f = x[0], g[0] = 1 (the rest of g stays 0). */
static PetscErrorCode Trivial(Tao tao, Vec X, PetscReal *f, Vec G, void *ctx) {
  const PetscScalar *x;
  PetscScalar *g;
  calls++;
  PetscCall(VecGetArrayRead(X, &x));
  PetscCall(VecGetArray(G, &g));
  g[0] = 1;
  *f = x[0];
  PetscCall(VecRestoreArrayRead(X, &x));
  PetscCall(VecRestoreArray(G, &g));
  return 0;
}

static PetscErrorCode Rosenbrock(Tao tao, Vec X, PetscReal *f, Vec G, void *ctx) {
  const PetscScalar *x;
  PetscScalar *g;
  PetscInt n;
  PetscReal s = 0, alpha = 100;
  calls++;
  PetscCall(VecGetLocalSize(X, &n));
  PetscCall(VecGetArrayRead(X, &x));
  PetscCall(VecGetArray(G, &g));
  for (PetscInt i = 0; i < n; i += 2) {
    PetscReal t1 = x[i + 1] - x[i] * x[i], t2 = 1 - x[i];
    s += alpha * t1 * t1 + t2 * t2;
    g[i] = -4 * alpha * t1 * x[i] - 2 * t2;
    g[i + 1] = 2 * alpha * t1;
  }
  *f = s;
  PetscCall(VecRestoreArrayRead(X, &x));
  PetscCall(VecRestoreArray(G, &g));
  return 0;
}

int main(int argc, char **argv) {
  const char *mode = argc > 1 ? argv[1] : "crossing";
  PetscInt n = argc > 2 ? atol(argv[2]) : 10, its = argc > 3 ? atol(argv[3]) : 1000, reps = argc > 4 ? atol(argv[4]) : 5;
  int crossing = strcmp(mode, "crossing") == 0;
  PetscCall(PetscInitialize(NULL, NULL, NULL, NULL));
  PetscCall(PetscOptionsSetValue(NULL, "-tao_ls_type", crossing ? "unit" : "more-thuente"));
  PetscCall(PetscPrintf(PETSC_COMM_SELF, "{\"mode\":\"%s\",\"n\":%" PetscInt_FMT ",\"runs\":[", mode, n));
  for (PetscInt r = 0; r <= reps; r++) { /* r = 0: warm-up, not reported */
    Tao tao;
    Vec x;
    PetscInt it;
    PetscLogDouble t0, t1;
    PetscCall(VecCreateSeq(PETSC_COMM_SELF, n, &x));
    PetscCall(VecSet(x, 0));
    PetscCall(TaoCreate(PETSC_COMM_SELF, &tao));
    PetscCall(TaoSetType(tao, TAOLMVM));
    PetscCall(TaoSetSolution(tao, x));
    PetscCall(TaoSetObjectiveAndGradient(tao, NULL, crossing ? Trivial : Rosenbrock, NULL));
    PetscCall(TaoSetTolerances(tao, 0, 0, 0));
    PetscCall(TaoSetMaximumIterations(tao, r == 0 ? PetscMin(its, 100) : its));
    PetscCall(TaoSetMaximumFunctionEvaluations(tao, -1));
    PetscCall(TaoSetFromOptions(tao));
    calls = 0;
    PetscCall(PetscTime(&t0));
    PetscCall(TaoSolve(tao));
    PetscCall(PetscTime(&t1));
    PetscCall(TaoGetIterationNumber(tao, &it));
    if (r > 0) PetscCall(PetscPrintf(PETSC_COMM_SELF, "%s{\"seconds\":%.9g,\"calls\":%ld,\"iterations\":%" PetscInt_FMT "}", r > 1 ? "," : "", t1 - t0, calls, it));
    PetscCall(TaoDestroy(&tao));
    PetscCall(VecDestroy(&x));
  }
  PetscCall(PetscPrintf(PETSC_COMM_SELF, "]}\n"));
  PetscCall(PetscFinalize());
  return 0;
}
