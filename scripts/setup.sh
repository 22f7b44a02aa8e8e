#!/usr/bin/env bash
# Sets petscml up on a fresh Debian 12 machine and runs the main job:
# system packages (PETSc, Open MPI, OpenBLAS, petsc4py for parity checks), npm dependencies,
# the native addon and the TypeScript build. Used by the README's quick start, .ci/run and
# docker/Dockerfile alike.
#
#   bash scripts/setup.sh            # install, build, run the main job
#   bash scripts/setup.sh --no-run   # install and build only
set -euo pipefail
cd "$(dirname "$0")/.."

run_main=1
[ "${1:-}" = "--no-run" ] && run_main=0

say() { printf '\n== %s\n' "$*"; }
sudo_if_needed() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

packages=(
  build-essential cmake pkg-config
  petsc-dev libopenmpi-dev openmpi-bin
  # PETSc and the system BLAS alternative use OpenBLAS once it is installed; install it explicitly
  # so that results do not depend on what else is on the machine (PLATFORM.md).
  libopenblas-dev
  # Debian's reference BLAS, the other arithmetic scripts/portability.sh runs the tests under.
  libblas3
  # The reference binding, for the parity checks against PETSc itself.
  python3-petsc4py python3-numpy
  # A font for the text of PNG figures (petscml plot rasterizes its SVG with resvg, which reads
  # system fonts; without one, the PNG has lines but no labels). resvg finds fonts through
  # /etc/fonts/fonts.conf only, which is fontconfig-config's (not installed by the font itself, and
  # missing on a fresh system such as the Docker image: scripts/check-image.sh).
  fonts-dejavu-core fontconfig-config
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing system packages: ${missing[*]}"
  sudo_if_needed apt-get update -qq
  sudo_if_needed env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if ! command -v node >/dev/null; then
  echo "petscml: Node.js >= 20.17 is required and was not found (Debian 12's own nodejs is 18: install Node 20 or 22)." >&2
  exit 1
fi
node -e 'const [a,b]=process.versions.node.split(".").map(Number); if (a<20||(a===20&&b<17)) { console.error(`petscml: Node.js >= 20.17 is required, found ${process.versions.node}`); process.exit(1); }'

# Node's headers come with the system's Node (never downloaded): point node-gyp and cmake-js at them.
if [ -z "${npm_config_nodedir:-}" ]; then
  nodedir=$(dirname "$(dirname "$(command -v node)")")
  [ -f "$nodedir/include/node/node_api.h" ] && export npm_config_nodedir="$nodedir"
fi

say "installing npm dependencies"
# `npm install` with the committed lock installs the locked versions. Not `npm ci`: npm 11.19
# rejects its own lock files there (rollup's platform packages "missing"). --ignore-scripts: npm
# would otherwise build the addon with node-gyp (its default for a root binding.gyp); it is built
# with cmake-js just below, and no dependency needs an install script.
npm install --no-audit --no-fund --ignore-scripts

say "building the native addon and the TypeScript sources"
npm run build

if [ $run_main -eq 1 ]; then
  say "main job"
  bash scripts/main-job.sh
fi
