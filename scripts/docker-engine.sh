#!/usr/bin/env bash
# Give this machine a running Docker engine. On a laptop whose engine already answers it
# touches nothing; on the project's machines (no systemd, nothing starts dockerd) it
# installs Debian's docker.io and starts dockerd by hand. Safe to run repeatedly, and
# after dockerd was killed with -9 (CI runs after every session process is killed).
set -euo pipefail

me=$(basename "$0")
log=/var/log/dockerd.log
timeout_s=${DOCKER_ENGINE_TIMEOUT:-60}

say() { echo "$me: $*"; }

if docker info >/dev/null 2>&1; then
  say "docker engine already answers; nothing to do"
  exit 0
fi

[[ $(id -u) -eq 0 ]] || { say "no answering engine and not root: cannot start dockerd" >&2; exit 1; }

# Install only what is missing; one apt-get update for the whole run.
need=()
command -v dockerd >/dev/null || need+=(docker.io)
command -v debootstrap >/dev/null || need+=(debootstrap)   # build-images.sh makes base images with it
if ((${#need[@]})); then
  say "installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# pgrep only detects; we never kill by name. Zombies do not count: a dockerd killed
# with -9 lingers as one until reaped. A surviving containerd keeps its socket, and
# dockerd then reuses it.
alive() {
  local pid state
  for pid in $(pgrep -x "$1"); do
    state=$(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null) || continue  # field 3: state
    [[ $state == [!Z]* ]] && return 0
  done
  return 1
}

started=0
start_dockerd() {
  # Leftovers of a killed dockerd make a new one refuse to start ("pid file found").
  rm -f /var/run/docker.pid /var/run/docker.sock
  if ! alive containerd; then
    rm -f /var/run/docker/containerd/containerd.pid \
          /var/run/docker/containerd/containerd.sock \
          /var/run/docker/containerd/containerd-debug.sock \
          /run/containerd/containerd.sock /run/containerd/containerd.sock.ttrpc
  fi
  say "starting dockerd (log: $log)"
  # setsid+nohup: dockerd must outlive the shell (and session) that called us.
  setsid nohup dockerd >>"$log" 2>&1 </dev/null &
  started=1
}

start=$SECONDS
alive dockerd && say "a dockerd process exists but does not answer yet; waiting for it"
until docker info >/dev/null 2>&1; do
  if ! alive dockerd; then
    if ((started)); then
      say "dockerd exited; tail of $log:" >&2
      tail -n 40 "$log" >&2 || true
      exit 1
    fi
    start_dockerd
  elif ((SECONDS - start >= timeout_s)); then
    say "docker info did not answer within ${timeout_s}s; tail of $log:" >&2
    tail -n 40 "$log" >&2 || true
    exit 1
  fi
  sleep 1
done
say "docker engine up after $((SECONDS - start))s ($(docker info --format '{{.ServerVersion}} {{.Driver}}'))"
