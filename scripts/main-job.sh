#!/usr/bin/env bash
# The main job: real solves with the built library.
set -euo pipefail
cd "$(dirname "$0")/.."
export OMPI_ALLOW_RUN_AS_ROOT=${OMPI_ALLOW_RUN_AS_ROOT:-1} OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=${OMPI_ALLOW_RUN_AS_ROOT_CONFIRM:-1}
echo "-- extended Rosenbrock, n = 1000, trust region Newton with JavaScript Hessian-vector products"
node examples/rosenbrock.js -tao_type ntr -n 1000
echo "-- the same on 2 MPI ranks"
mpirun --oversubscribe -n 2 node examples/rosenbrock.js -tao_type ntr -n 1000
echo "-- MLP regression (tfjs model, generated data): L-BFGS vs trust region with Gauss-Newton products"
node examples/regression.js
