#!/usr/bin/env bash
# Installs petscml the way a user gets it and uses it from there: `npm pack` of this checkout,
# `npm install <tarball>` in a fresh folder (npm builds the addon with node-gyp from binding.gyp,
# its default for a package with a binding.gyp and no install script), then from that folder
#   (a) a one-process solve and an installed example,
#   (b) a two-rank MPI solve, distributed and replicated (data-parallel) callbacks,
#   (c) the installed command, `npx petscml presets`.
# Catches what the repository's own build (cmake-js, ./build) cannot: a binding.gyp that misses a
# source (an addon that loads, then dies of an undefined symbol in the first replicated solve), a
# file left out of the tarball, a dependency missing from package.json.
#
#   bash scripts/check-package.sh            # needs scripts/setup.sh done (node_modules, PETSc)
#   KEEP=1 bash scripts/check-package.sh     # keep the temp folder for a look afterwards
#
# Nothing is downloaded but the package's npm dependencies (from npm's cache when it has them):
# node-gyp builds against the system Node's headers (npm_config_nodedir, as in scripts/setup.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# node-gyp compiles on every core (npm runs a plain `node-gyp rebuild`, one job otherwise).
export JOBS=${JOBS:-max}

if [ -z "${npm_config_nodedir:-}" ]; then
  nodedir=$(dirname "$(dirname "$(command -v node)")")
  if [ ! -f "$nodedir/include/node/node_api.h" ]; then
    echo "check-package: no Node headers in $nodedir/include/node; set npm_config_nodedir (node-gyp must not download them)" >&2
    exit 1
  fi
  export npm_config_nodedir="$nodedir"
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/petscml-package.XXXXXX")
if [ "${KEEP:-0}" = 1 ]; then trap 'echo "check-package: left $work"' EXIT; else trap 'rm -rf "$work"' EXIT; fi

t_all=$SECONDS
t_step=$SECONDS
step() { printf '\n== %s\n' "$*"; t_step=$SECONDS; }
took() { echo "   ok ($((SECONDS - t_step)) s)"; }
fail() { echo "check-package: FAIL: $*" >&2; exit 1; }
# Runs a command with its output in a log, shown only when it fails.
logged() {
  local log=$1; shift
  "$@" >"$log" 2>&1 || {
    local rc=$?
    tail -n 60 "$log" >&2
    if grep -q 'undefined symbol' "$log"; then
      echo "check-package: the addon npm built lacks a symbol: does binding.gyp compile every native/*.cc?" >&2
    fi
    fail "$* (exit $rc; log above)"
  }
}

step "npm pack (prepack builds dist)"
logged "$work/pack.log" npm pack --pack-destination "$work"
tarball=$(ls "$work"/petscml-*.tgz)
tar -tzf "$tarball" | sed 's|^package/||' | sort >"$work/contents"
need=(package.json binding.gyp CMakeLists.txt README.md dist/index.js dist/index.d.ts dist/native.js dist/cli/main.js)
for f in native/*.cc native/*.h examples/*.js; do need+=("$f"); done
for f in "${need[@]}"; do grep -qxF "$f" "$work/contents" || fail "the tarball lacks $f"; done
if grep -E '^(build|runs|node_modules|src|test|bench|out|docker|\.ci)/|\.node$|\.jsonl$' "$work/contents"; then
  fail "the tarball holds local or build files (listed above)"
fi
size=$(stat -c %s "$tarball")
[ "$size" -lt 2000000 ] || fail "the tarball is $size bytes"
echo "   $(basename "$tarball"): $(wc -l <"$work/contents") files, $((size / 1024)) KiB"
took

step "npm install <tarball> in a fresh folder (node-gyp builds the addon)"
app=$work/app
mkdir "$app"
cat >"$app/package.json" <<'EOF'
{ "name": "petscml-package-check", "version": "1.0.0", "private": true }
EOF
cd "$app"
# --foreground-scripts: node-gyp's output goes to the log; --prefer-offline: npm's cache first.
logged "$work/install.log" npm install --no-audit --no-fund --prefer-offline --foreground-scripts "$tarball"
grep -q 'gyp info ok' "$work/install.log" || fail "npm install did not build the addon with node-gyp (see $work/install.log)"
[ -f node_modules/petscml/build/Release/petscml.node ] || fail "no node_modules/petscml/build/Release/petscml.node after npm install"
took

step "(a) one process: a solve through require('petscml'), and an installed example"
cat >single.js <<'EOF'
const { Tao, Vec, comm } = require('petscml');
if (!require.resolve('petscml').startsWith(`${__dirname}/node_modules/`)) throw new Error(`petscml resolved to ${require.resolve('petscml')}`);
const n = 100;
const x = Vec.create(n).set(0);
const tao = new Tao({ type: 'lmvm' });
tao.setObjectiveAndGradient((x, g) => {
  let f = 0;
  for (let i = 0; i < x.length; i += 2) {
    const t1 = x[i + 1] - x[i] * x[i], t2 = 1 - x[i];
    f += 100 * t1 * t1 + t2 * t2;
    g[i] = -400 * t1 * x[i] - 2 * t2;
    g[i + 1] = 200 * t1;
  }
  return f;
});
tao.setTolerances({ gatol: 1e-9, grtol: 0, gttol: 0 });
const r = tao.solve(x);
const err = Math.max(...x.toArray().map((v) => Math.abs(v - 1)));
console.log(`   lmvm on ${comm().size} rank: ${r.reasonName} after ${r.iterations} iterations, |x - 1|_inf = ${err.toExponential(2)}`);
if (!r.converged || err > 1e-5) process.exit(1);
EOF
logged "$work/single.log" node single.js
cat "$work/single.log"
logged "$work/example.log" node node_modules/petscml/examples/rosenbrock.js -tao_type ntr
grep -q 'CONVERGED' "$work/example.log" || { cat "$work/example.log"; fail "examples/rosenbrock.js did not converge"; }
sed 's/^/   example: /' "$work/example.log" | head -n 1
took

step "(b) two MPI ranks: distributed and replicated (data-parallel) solves"
cat >mpi.js <<'EOF'
// Extended Rosenbrock on 'world' twice: with callbacks on each rank's owned block, and with
// replicated callbacks (every rank sees the whole x and adds the terms of its own pairs), the mode
// of data-parallel training (native/replicated.cc).
const { Tao, Vec, ShellMat, comm, replicationStats } = require('petscml');
const { rank, size } = comm();
const n = 40, A = 100;
const pairs = n / 2;
const local = 2 * (Math.floor(pairs / size) + (rank < pairs % size ? 1 : 0));
function terms(x, g, take) {
  let f = 0;
  for (let i = 0; i < x.length; i += 2) {
    if (!take(i / 2)) { g[i] = 0; g[i + 1] = 0; continue; }
    const t1 = x[i + 1] - x[i] * x[i], t2 = 1 - x[i];
    f += A * t1 * t1 + t2 * t2;
    g[i] = -4 * A * t1 * x[i] - 2 * t2;
    g[i + 1] = 2 * A * t1;
  }
  return f;
}
function hv(p, v, y, take) {
  for (let i = 0; i < v.length; i += 2) {
    if (!take(i / 2)) { y[i] = 0; y[i + 1] = 0; continue; }
    const a = p[i], b = p[i + 1], h00 = 12 * A * a * a - 4 * A * b + 2, h01 = -4 * A * a;
    y[i] = h00 * v[i] + h01 * v[i + 1];
    y[i + 1] = h01 * v[i] + 2 * A * v[i + 1];
  }
}
function solve(replicated) {
  const take = replicated ? (k) => k % size === rank : () => true;
  const x = Vec.create({ local, global: n, comm: 'world' }).set(0);
  const point = new Float64Array(replicated ? n : local);
  const H = new ShellMat({ comm: 'world', size: n, localRows: local, localCols: local, replicated, mult: (v, y) => hv(point, v, y, take) });
  const tao = new Tao({ type: 'ntr', comm: 'world' });
  if (replicated) tao.setReplicated(true);
  tao.setObjectiveAndGradient((p, g) => terms(p, g, take));
  tao.setHessian(H, (p) => point.set(p));
  tao.setSolution(x);
  tao.setTolerances({ gatol: 1e-9, grtol: 0, gttol: 0 });
  const r = tao.solve();
  const err = Math.max(...x.gatherAll().map((v) => Math.abs(v - 1)));
  return { reason: r.reasonName, converged: r.converged, iterations: r.iterations, err };
}
const distributed = solve(false);
const replicated = solve(true);
const stats = replicationStats(); // only replicated callbacks issue these collectives
const ok = size === 2 && [distributed, replicated].every((r) => r.converged && r.err < 1e-5) && stats.gathers > 0 && stats.reductions > 0;
for (const [name, r] of Object.entries({ distributed, replicated })) {
  if (rank === 0) console.log(`   ${name} ntr on ${size} ranks: ${r.reason} after ${r.iterations} iterations, |x - 1|_inf = ${r.err.toExponential(2)}`);
}
if (rank === 0) console.log(`   replicated collectives: ${stats.gathers} gathers, ${stats.reductions} reductions`);
if (!ok) { console.error(`rank ${rank}: check failed`, JSON.stringify({ size, distributed, replicated, stats })); process.exit(1); }
EOF
logged "$work/mpi.log" mpirun --oversubscribe -n 2 node mpi.js
cat "$work/mpi.log"
took

step "(c) the installed command: npx petscml presets"
logged "$work/presets.log" npx --no petscml presets
grep -q 'tr-gn' "$work/presets.log" || { cat "$work/presets.log"; fail "petscml presets did not list tr-gn"; }
echo "   $(wc -l <"$work/presets.log") lines, $(head -n 1 "$work/presets.log")"
took

cd "$repo"
echo
echo "check-package: PASS ($((SECONDS - t_all)) s)"
