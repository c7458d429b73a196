#!/usr/bin/env bash
# Build local stand-ins for the official postgres:<major> images (no registry can be
# reached here). Each is Debian's own PostgreSQL package on a debootstrapped Debian base,
# tagged with the official name so stacks that name postgres:13 / postgres:17 run
# unchanged. Builds only what is missing unless --force.
#   usage: scripts/build-images.sh [--force] [--pull-first] [--tools] [--backup] [--upgrade] [MAJOR...]   (default majors: 13 17)
# --pull-first (what deploy.sh uses): a missing image is pulled first, bounded by
# PG_REPLICATION_PULL_TIMEOUT seconds (default 300), and built only when the pull fails. It never
# pulls offline, i.e. with PG_REPLICATION_LOCAL_IMAGES=1 or PG_REPLICATION_STAND_IN_PLUGINS=1
# (machines without a registry, CI): there it builds at once.
# With --tools (a stack with endpoints; the tests), then for each major the stack's tools image pg-replication/postgres-tools:<major> (images/tools:
# PgBouncer from the distribution, FROM postgres:<major>, whichever that is); always built here,
# never pulled, and again whenever images/tools changed (its digest is a label of the image).
# With --backup (a stack with backups; the tests), the same for pg-replication/postgres-backup:<major>
# (images/backup: pgBackRest from the distribution, FROM postgres:<major>), and then for the backup
# schedule's pg-replication/postgres-scheduler:<major> (images/scheduler: the docker CLI and jq from the
# distribution, FROM pg-replication/postgres-backup:<major>), rebuilt also whenever that base changed.
# With --upgrade, likewise pg-replication/postgres-upgrade:<old>-<new> (images/upgrade: postgres:<new>
# plus the old major's binaries, for pg_upgrade), for the pair old = the lowest and new = the highest
# of the majors given (default 13-17).
set -euo pipefail

me=$(basename "$0")
root=$(cd "$(dirname "$0")/.." && pwd)
context=$root/images/postgres
tools_context=$root/images/tools
backup_context=$root/images/backup
scheduler_context=$root/images/scheduler
upgrade_context=$root/images/upgrade
label=org.pg-replication.built-locally=true
digest_label=org.pg-replication.context-digest

say() { echo "$me: $*"; }
die() { echo "$me: $*" >&2; exit 1; }

force=0
pull_first=0
tools=0
backup=0
upgrade=0
majors=()
for arg in "$@"; do
  case $arg in
    --force) force=1 ;;
    --pull-first) pull_first=1 ;;
    --tools) tools=1 ;;
    --backup) backup=1 ;;
    --upgrade) upgrade=1 ;;
    -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
    [0-9]*) majors+=("$arg") ;;
    *) die "unknown argument: $arg" ;;
  esac
done
((${#majors[@]})) || majors=(13 17)
if ((upgrade)); then
  old_major=$(printf '%s\n' "${majors[@]}" | sort -n | head -n1)
  new_major=$(printf '%s\n' "${majors[@]}" | sort -n | tail -n1)
  ((old_major < new_major)) || die "--upgrade needs two different majors (given: ${majors[*]})"
fi

# The Debian release that ships each major as its distribution PostgreSQL.
suite_for() {
  case $1 in
    13) echo bullseye ;;
    15) echo bookworm ;;
    17) echo trixie ;;
    *) return 1 ;;
  esac
}

# Debian mirror as configured on this machine (never hard-coded: each machine has its
# own). Takes the first "main" source of a plain release suite (not -security/-updates),
# preferring a URI whose path ends in /debian. DEBIAN_MIRROR overrides.
debian_mirror() {
  if [[ -n ${DEBIAN_MIRROR:-} ]]; then echo "$DEBIAN_MIRROR"; return; fi
  local files=() f
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
    [[ -f $f ]] && files+=("$f")
  done
  ((${#files[@]})) || return 1
  awk '
    function consider(types, uris, suites, comps,   n, i, u, ok) {
      if (types !~ /(^|[ \t])deb([ \t]|$)/ || comps !~ /(^|[ \t])main([ \t]|$)/) return
      ok = 0; n = split(suites, s, /[ \t]+/)
      for (i = 1; i <= n; i++) if (s[i] != "" && s[i] !~ /[-\/]/) ok = 1
      if (!ok) return
      n = split(uris, u, /[ \t]+/)
      for (i = 1; i <= n; i++) {
        if (u[i] !~ /^(https?|ftp|file):/ || u[i] ~ /security/) continue
        sub(/\/+$/, "", u[i])
        if (best == "" && u[i] ~ /\/debian$/) best = u[i]
        if (first == "") first = u[i]
      }
    }
    function flush() { if (enabled != "no") consider(T, U, S, C); T = U = S = C = ""; enabled = "" }
    FNR == 1 { flush(); deb822 = (FILENAME ~ /\.sources$/) }
    deb822 {
      if ($0 ~ /^[ \t]*$/) { flush(); next }
      if ($0 ~ /^#/) next
      key = tolower($1); val = $0; sub(/^[^:]*:[ \t]*/, "", val)
      if (key == "types:") T = val; else if (key == "uris:") U = val
      else if (key == "suites:") S = val; else if (key == "components:") C = val
      else if (key == "enabled:") enabled = tolower(val)
      next
    }
    /^[ \t]*deb[ \t]/ {
      line = $0; gsub(/\[[^]]*\]/, "", line); n = split(line, w, /[ \t]+/)
      j = (w[1] == "") ? 2 : 1          # leading blanks give an empty first field
      comps = ""; for (k = j + 3; k <= n; k++) comps = comps " " w[k]
      consider("deb", w[j + 1], w[j + 2], comps)
    }
    END { flush(); if (best != "") print best; else if (first != "") print first }
  ' "${files[@]}"
}

have_image() { docker image inspect "$1" >/dev/null 2>&1; }

# Minimal Debian root filesystem imported as an image: our only way to get a base image
# without a registry. Cached as pg-replication/debian:<suite>.
build_base() {
  local suite=$1 image=pg-replication/debian:$1 mirror dir t0
  if ((!force)) && have_image "$image"; then
    say "base $image present; skipping debootstrap"
    return
  fi
  command -v debootstrap >/dev/null || die "debootstrap missing (scripts/docker-engine.sh installs it)"
  mirror=$(debian_mirror) || true
  [[ -n $mirror ]] || die "no Debian mirror found in /etc/apt/sources.list{,.d/*} (set DEBIAN_MIRROR)"
  dir=$(mktemp -d /var/tmp/pg-replication-rootfs.XXXXXX)
  # shellcheck disable=SC2064  # expand $dir now: the trap must remove this very dir
  trap "rm -rf '$dir'" EXIT
  say "debootstrap $suite from the machine's Debian mirror"
  t0=$SECONDS
  # The host keyring (debian-archive-keyring) verifies bullseye and trixie Release files
  # alike, so signature checking stays on.
  if ! debootstrap --variant=minbase "$suite" "$dir" "$mirror" >"$dir.log" 2>&1; then
    tail -n 30 "$dir.log" >&2
    tail -n 30 "$dir/debootstrap/debootstrap.log" >&2 2>/dev/null || true
    die "debootstrap $suite failed (full log: $dir.log)"
  fi
  say "debootstrap $suite took $((SECONDS - t0))s"
  t0=$SECONDS
  # Leave no downloaded .debs or apt lists in the layer.
  rm -rf "$dir"/var/cache/apt/archives/*.deb "$dir"/var/lib/apt/lists/*
  tar -C "$dir" -c . | docker import -c "LABEL $label" - "$image" >/dev/null
  say "import $image took $((SECONDS - t0))s"
  rm -rf "$dir" "$dir.log"
  trap - EXIT
}

for major in "${majors[@]}"; do
  suite=$(suite_for "$major") || die "no Debian suite known for PostgreSQL $major (known: 13 15 17)"
  image=postgres:$major
  if ((!force)) && have_image "$image"; then
    say "$image present; skipping (use --force to rebuild)"
    continue
  fi
  if ((pull_first && !force)); then
    if [[ ${PG_REPLICATION_LOCAL_IMAGES:-0} == 1 || ${PG_REPLICATION_STAND_IN_PLUGINS:-0} == 1 ]]; then
      say "$image missing; offline (PG_REPLICATION_LOCAL_IMAGES or PG_REPLICATION_STAND_IN_PLUGINS): building, no pull"
    else
      pull_timeout=${PG_REPLICATION_PULL_TIMEOUT:-300}
      say "$image missing; pulling it (at most ${pull_timeout}s)"
      if timeout "$pull_timeout" docker pull "$image"; then
        say "pulled $image"
        continue
      fi
      say "pull of $image failed or timed out; building it locally instead"
    fi
  fi
  build_base "$suite"
  say "building $image on pg-replication/debian:$suite"
  t0=$SECONDS
  # Legacy builder on purpose: Debian's docker.io has no buildx, and a newer client
  # refuses BuildKit without it.
  build_opts=()
  ((force)) && build_opts+=(--no-cache)
  DOCKER_BUILDKIT=0 docker build "${build_opts[@]}" \
    --build-arg "SUITE=$suite" --build-arg "PG_MAJOR=$major" \
    --label "$label" -t "$image" "$context"
  say "build $image took $((SECONDS - t0))s"
done

# An image of the cluster's own with something more (a tool; the old major's binaries): rebuilt when
# its context changed since it was built (its digest is a label of the image), or with --force.
# derived [--on IMAGE] NAME CONTEXT TAG BUILD-ARG... builds pg-replication/postgres-NAME:TAG. With
# --on, IMAGE (its base, one of ours) is part of the digest by its ID: rebuilt whenever that was,
# in this run or an earlier one. Without it the digest is of the context alone, as it always was.
derived() {
  local on='' name ctx tag digest image built arg build_args=()
  if [[ $1 == --on ]]; then on=$2; shift 2; fi
  name=$1 ctx=$2 tag=$3
  shift 3
  for arg in "$@"; do build_args+=(--build-arg "$arg"); done
  [[ -z $on ]] || have_image "$on" || die "$on missing: pg-replication/postgres-$name:$tag is built on it"
  digest=$( { (cd "$ctx" && find . -type f -print0 | sort -z | xargs -0 sha256sum)
              [[ -z $on ]] || docker image inspect -f '{{.Id}}' "$on"; } | sha256sum | cut -c1-16)
  image=pg-replication/postgres-$name:$tag
  built=$(docker image inspect -f "{{index .Config.Labels \"$digest_label\"}}" "$image" 2>/dev/null || true)
  if ((!force)) && [[ $built == "$digest" ]]; then
    say "$image present and up to date; skipping"
    return
  fi
  say "building $image ($*)${built:+ (images/$name${on:+ or $on} changed since it was built)}"
  t0=$SECONDS
  DOCKER_BUILDKIT=0 docker build -q "${build_args[@]}" \
    --label "$label" --label "$digest_label=$digest" -t "$image" "$ctx" >/dev/null
  say "build $image took $((SECONDS - t0))s"
  built_images+=("$image")
}
built_images=()
for major in "${majors[@]}"; do
  ((!tools)) || derived tools "$tools_context" "$major" "BASE=postgres:$major"
  ((!backup)) || derived backup "$backup_context" "$major" "BASE=postgres:$major"
  ((!backup)) || derived --on "pg-replication/postgres-backup:$major" scheduler "$scheduler_context" "$major" \
    "BASE=pg-replication/postgres-backup:$major"
done
((!upgrade)) || derived upgrade "$upgrade_context" "$old_major-$new_major" \
  "OLD=postgres:$old_major" "NEW=postgres:$new_major" "OLD_MAJOR=$old_major" "NEW_MAJOR=$new_major"
say "done: ${majors[*]/#/postgres:}${built_images[*]:+ and built ${built_images[*]}}"
