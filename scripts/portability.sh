#!/usr/bin/env bash
# Runs the test suite under every BLAS this machine can run, to show that no assertion depends on
# which kernels a CPU gets. Floating-point results and iteration counts of PETSc/TAO depend on the
# BLAS behind PETSc's dot products, norms and axpys: OpenBLAS picks a kernel family per CPU
# (OPENBLAS_CORETYPE overrides the choice), and Debian's reference BLAS is another arithmetic again.
#
#   bash scripts/portability.sh                 # numerically sensitive tests, every variant
#   bash scripts/portability.sh --full          # the whole suite, every variant
#   bash scripts/portability.sh --variants reference,Sandybridge   # only these
#   bash scripts/portability.sh --list          # the variants this CPU supports, and exit
#   bash scripts/portability.sh --ci            # one variant besides the default (CI's step):
#                                               # another OpenBLAS family than the one chosen here
#
# Variants: each OpenBLAS family the CPU's instruction set allows (SkylakeX needs AVX-512, Haswell
# AVX2 and FMA, Sandybridge AVX, Nehalem SSE4.2; Zen runs Haswell's kernels and is not repeated),
# and 'reference': Debian's reference BLAS (libblas3) selected for libblas.so.3 through
# update-alternatives, restored to the system's choice on exit (also on failure or Ctrl-C). As a
# non-root user the reference BLAS is put first on LD_LIBRARY_PATH instead, which binds the same
# library (LD_DEBUG=bindings shows PETSc's ddot_ coming from it) without changing the system.
# Exit code: 0 when every variant passes.
set -euo pipefail
cd "$(dirname "$0")/.."
export OMPI_ALLOW_RUN_AS_ROOT=${OMPI_ALLOW_RUN_AS_ROOT:-1} OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=${OMPI_ALLOW_RUN_AS_ROOT_CONFIRM:-1}

# The tests whose numbers come out of PETSc's or tfjs's arithmetic: solver runs, parity with
# petsc4py, rank-count comparisons, derivatives, training. The rest (logs, plots, argument
# checks, process handling) does not touch a BLAS result.
SENSITIVE=(
  test/parity.test.ts test/mpi.test.ts test/data-parallel.test.ts
  test/petsc/tao.test.ts test/solvers test/functions test/engine/float64.test.ts test/cli/train.test.ts
)

full=0
only=""
list=0
while [ $# -gt 0 ]; do
  case "$1" in
    --full) full=1 ;;
    --variants) only="${2:?--variants needs a comma-separated list}"; shift ;;
    --variants=*) only="${1#*=}" ;;
    --list) list=1 ;;
    --ci) only=ci ;;
    -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
    *) echo "portability.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done

arch_lib=/usr/lib/$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
ref_blas=$arch_lib/blas/libblas.so.3
alt_name=libblas.so.3-$(basename "$arch_lib")

# OpenBLAS prints the family it chose when OPENBLAS_VERBOSE=2; the addon links PETSc, which links it.
detected=$(OPENBLAS_VERBOSE=2 node -e "require('./build/Release/petscml.node')" 2>&1 | sed -n 's/^Core: //p' | head -n 1)
flags=$(grep -m1 '^flags' /proc/cpuinfo || true)
has() { case " $flags " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }
# Families that share their double-precision kernels with another are one variant.
family() { case "$1" in Zen) echo Haswell ;; Cooperlake|SapphireRapids) echo SkylakeX ;; *) echo "$1" ;; esac; }
variants=(default)
add() { [ "$(family "${detected:-none}")" = "$1" ] || variants+=("$1"); }
has avx512f && has avx512bw && has avx512vl && has avx512dq && add SkylakeX
has avx2 && has fma && add Haswell
has avx && add Sandybridge
has sse4_2 && add Nehalem
[ -f "$ref_blas" ] && variants+=(reference)

if [ $list -eq 1 ]; then
  echo "OpenBLAS chooses: ${detected:-unknown}; variants here: ${variants[*]}"
  exit 0
fi
if [ "$only" = ci ]; then
  only=reference
  for v in Haswell Sandybridge Nehalem; do
    for have in "${variants[@]}"; do [ "$have" = "$v" ] && { only=$v; break 2; }; done
  done
fi
if [ -n "$only" ]; then
  IFS=, read -r -a wanted <<<"$only"
  for w in "${wanted[@]}"; do
    ok=0
    for v in "${variants[@]}"; do [ "$v" = "$w" ] && ok=1; done
    [ $ok -eq 1 ] || { echo "portability.sh: variant '$w' cannot run on this CPU (here: ${variants[*]}; the default is ${detected:-unknown})" >&2; exit 2; }
  done
  variants=("${wanted[@]}")
fi

# The system's BLAS choice, put back whatever happens.
restore=""
use_alternatives=0
if [ "$(id -u)" -eq 0 ] && command -v update-alternatives >/dev/null && update-alternatives --query "$alt_name" >/dev/null 2>&1; then
  use_alternatives=1
  mode=$(update-alternatives --query "$alt_name" | sed -n 's/^Status: //p')
  current=$(update-alternatives --query "$alt_name" | sed -n 's/^Value: //p')
  if [ "$mode" = auto ]; then restore="update-alternatives --quiet --auto $alt_name"
  else restore="update-alternatives --quiet --set $alt_name $current"; fi
fi
put_back() { if [ -n "$restore" ]; then $restore || echo "portability.sh: could not restore $alt_name: run '$restore'" >&2; fi; }
trap put_back EXIT
trap 'exit 130' INT TERM

tests=("${SENSITIVE[@]}")
[ $full -eq 1 ] && tests=()

npx tsc -p tsconfig.json
failed=()
summary=()
for v in "${variants[@]}"; do
  envs=()
  case "$v" in
    default) ;;
    reference)
      if [ $use_alternatives -eq 1 ]; then update-alternatives --quiet --set "$alt_name" "$ref_blas"
      else envs=(LD_LIBRARY_PATH="$(dirname "$ref_blas")${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"); fi ;;
    *) envs=(OPENBLAS_CORETYPE="$v") ;;
  esac
  # Under mpirun, Open MPI hands the environment to the ranks it starts on this machine.
  printf '\n== variant %s%s\n' "$v" "$([ "$v" = default ] && echo " (OpenBLAS: ${detected:-unknown})")"
  start=$(date +%s)
  if env "${envs[@]}" npx vitest run "${tests[@]}"; then status=pass; else status=FAIL; failed+=("$v"); fi
  summary+=("$(printf '%-12s %-4s %4ss' "$v" "$status" "$(( $(date +%s) - start ))")")
  [ "$v" = reference ] && put_back
done

printf '\n== portability (%s, %s)\n' "$([ $full -eq 1 ] && echo 'whole suite' || echo 'numerically sensitive tests')" "$(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')"
printf '%s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
  echo "failed under: ${failed[*]}"
  exit 1
fi
echo "all ${#variants[@]} variants pass"
