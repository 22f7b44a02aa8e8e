#!/usr/bin/env bash
# The main job's figures under every BLAS this machine can run (scripts/portability.sh's variants):
# TAO's iterates depend on the BLAS behind PETSc's vector reductions, so final losses and the
# iteration counts of ill-conditioned runs are machine-dependent; README.md and BENCHMARKS.md give
# them as the ranges this prints.
#
#   bash bench/main-variants.sh                          # every variant (about 2 minutes each)
#   bash bench/main-variants.sh --variants default,reference
#
# Prints one table row per variant and solver, from runs/variants/<variant>/summary.md, plus the
# 2-rank trust-region Rosenbrock of the main job.
set -euo pipefail
cd "$(dirname "$0")/.."
export OMPI_ALLOW_RUN_AS_ROOT=${OMPI_ALLOW_RUN_AS_ROOT:-1} OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=${OMPI_ALLOW_RUN_AS_ROOT_CONFIRM:-1}

only=""
while [ $# -gt 0 ]; do
  case "$1" in
    --variants) only="${2:?--variants needs a list}"; shift ;;
    --variants=*) only="${1#*=}" ;;
    *) echo "main-variants.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
  shift
done
list=$(bash scripts/portability.sh --list)
echo "$list"
variants=${only:-$(echo "$list" | sed 's/.*variants here: //')}
variants=${variants//,/ }

# The reference BLAS goes first on LD_LIBRARY_PATH, which binds PETSc's BLAS calls to it (as
# portability.sh does for a non-root user) without touching the system's choice.
with_variant() {
  local v=$1; shift
  case "$v" in
    default) "$@" ;;
    reference) LD_LIBRARY_PATH="/usr/lib/$(gcc -print-multiarch)/blas${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" "$@" ;;
    *) OPENBLAS_CORETYPE="$v" "$@" ;;
  esac
}

rows=()
for v in $variants; do
  out=runs/variants/$v
  rm -rf "$out"; mkdir -p "$out"
  echo "== $v"
  rosen=$(with_variant "$v" mpirun --oversubscribe -n 2 node examples/rosenbrock.js -tao_type ntr -n 1000 | grep -m1 -E ' after [0-9]+ iterations' || true)
  with_variant "$v" node dist/cli/main.js train --solvers adam,tr-gn --out "$out" --no-plot >"$out.log" 2>&1 || { cat "$out.log"; exit 1; }
  while IFS= read -r line; do rows+=("| $v $line"); done < <(grep -E '^\| (Adam|TR-GN) ' "$out/summary.md" | sed 's/^| //')
  rows+=("| $v | rosenbrock ntr n=1000, 2 ranks: $rosen |")
done
echo
echo "$(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), $(nproc) cores, $(date -u +%F)"
head -n 2 "runs/variants/$(echo "$variants" | awk '{print $1}')/summary.md" | sed 's/^| solver/| variant solver/'
printf '%s\n' "${rows[@]}"
