#!/usr/bin/env bash
# Provide the Pulumi CLI, the Node.js language host and the provider plugins this
# project's stack needs. None of them ship in npm or Debian, so they are built from the
# Go module proxy into a per-version cache outside the repository and reused afterwards.
#
#   scripts/pulumi-toolchain.sh            # build what is missing, then print `export PATH=...`
#   eval "$(scripts/pulumi-toolchain.sh)"  # same, applied to the current shell
#
# Env: PULUMI_TOOLCHAIN_USE_INSTALLED=1 trusts a `pulumi` already on PATH;
#      PG_REPLICATION_CACHE moves the cache; PULUMI_HOME is where plugins get installed.
# Exit: 0 all pieces present; 3 provider plugins refused by the Go module proxy but the CLI and
#       the language host are there (the stand-in plugins can stand in for the refused ones);
#       1 anything else (build failure, proxy time-out, bad setup).
set -euo pipefail

# 3.276.0 (npm's newest @pulumi/pulumi) builds with its whole dependency graph; 3.274.1 is
# the served fallback should that stop being true.
PULUMI_VERSION="${PULUMI_VERSION:-3.276.0}"

# Exact versions the npm packages in package.json ask the engine for.
COMMAND_VERSION=1.2.1
COMMAND_MODULE=github.com/pulumi/pulumi-command/provider
COMMAND_REF=7f3eb6f3b77cd0fa3895ba437a695dd393f7dd25          # tag v1.2.1 sits at the repo root
DOCKER_VERSION=5.0.0
DOCKER_MODULE=github.com/pulumi/pulumi-docker/provider/v5
DOCKER_REF=c2baf6a4997f3f53052ee9284bcf2ef0cf8081ae           # tag v5.0.0
DOCKER_UPSTREAM=github.com/kreuzwerker/terraform-provider-docker
DOCKER_UPSTREAM_REF=619686ddb44a889cb24fc194faf8361ef9f03738
POSTGRESQL_VERSION=3.18.0
POSTGRESQL_MODULE=github.com/pulumi/pulumi-postgresql/provider/v3
POSTGRESQL_REF=b57d264d8aee0707e2c0135720c8e2115a9970d4       # tag v3.18.0
POSTGRESQL_UPSTREAM=github.com/cyrilgdn/terraform-provider-postgresql
POSTGRESQL_UPSTREAM_REF=ff936b9548c1076f498523a2bd116915ff977142
# The language host module of the CLI's own version is refused by the proxy; sdk/v3 releases up
# to v3.68.0 still carry it inside sdk/v3 (nodejs/cmd/pulumi-language-nodejs), and v3.68.0 is
# the newest of them. It only launches `node` on the SDK's own run script (the SDK in
# node_modules, 3.276, does the work) and answers GetRequiredPlugins/InstallDependencies; the CLI
# falls back for the RPCs it lacks. Built once per version into its own cache folder.
LANGHOST_SDK_VERSION=v3.68.0
PKG_MODULE=github.com/pulumi/pulumi/pkg/v3
SDK_MODULE=github.com/pulumi/pulumi/sdk/v3

me=$(basename "$0")
log() { echo "$me: $*" >&2; }
export PULUMI_SKIP_UPDATE_CHECK=true

PLUGIN_LIST=("command $COMMAND_VERSION" "docker $DOCKER_VERSION" "postgresql $POSTGRESQL_VERSION")
listed() { # listed PLUGIN-LS-OUTPUT NAME VERSION: is that resource plugin installed?
  awk -v n="$2" -v v="$3" '$1==n && $2=="resource" && $3==v {f=1} END {exit !f}' <<<"$1"
}
has_plugins() { # the three resource plugins at the exact versions, in PULUMI_HOME
  local ls p
  ls=$(pulumi plugin ls 2>/dev/null) || return 1
  for p in "${PLUGIN_LIST[@]}"; do listed "$ls" $p || return 1; done
}

# (a) A usable installation wins: building takes many minutes. A pulumi installed the usual
# way (not from this script's cache) fetches its own plugins when the stack needs them.
installed=$(command -v pulumi 2>/dev/null || true)
cache_root="${PG_REPLICATION_CACHE:-$HOME/.cache/pg-replication}/pulumi"
if [[ -n "$installed" ]] && { [[ "${PULUMI_TOOLCHAIN_USE_INSTALLED:-}" == 1 || "$installed" != "$cache_root"/* ]] || has_plugins; }; then
  log "using installed $installed ($(pulumi version 2>/dev/null || echo '?')); nothing to build"
  echo "export PATH=\"$(dirname "$installed"):\$PATH\""
  exit 0
elif [[ "${PULUMI_TOOLCHAIN_USE_INSTALLED:-}" == 1 ]]; then
  log "PULUMI_TOOLCHAIN_USE_INSTALLED=1 but no pulumi on PATH"; exit 1
fi

# (b) Build into the cache.
command -v go >/dev/null || { log "go is required to build the toolchain"; exit 1; }
CACHE="${PG_REPLICATION_CACHE:-$HOME/.cache/pg-replication}/pulumi/v$PULUMI_VERSION"
BIN="$CACHE/bin"
PLUGINS="$CACHE/plugins"   # kept off PATH so the engine doesn't pick them up as ambient plugins
LANGHOST_DIR="${PG_REPLICATION_CACHE:-$HOME/.cache/pg-replication}/pulumi/langhost-$LANGHOST_SDK_VERSION"
mkdir -p "$BIN" "$PLUGINS"
export PATH="$BIN:$PATH"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/pulumi-toolchain.XXXXXX")
trap 'chmod -R u+w "$WORK" 2>/dev/null; rm -rf "$WORK"' EXIT
export GOFLAGS="${GOFLAGS:+$GOFLAGS }-mod=mod"   # copied modules may need go.sum additions

# First http(s) entry of GOPROXY: asked directly so a refusal can be reported verbatim.
PROXY=$(go env GOPROXY | tr ',|' '\n\n' | grep -m1 -E '^https?://' || true)
redact() { if [[ -n "$PROXY" ]]; then sed -u "s#${PROXY%/}#\$GOPROXY#g"; else cat; fi; }

# Outcomes go to files: pieces are built in subshells.
: >"$WORK/refused"; : >"$WORK/failed"
refuse() { echo "$1: $2" >>"$WORK/refused"; log "REFUSED $1: $2"; }
fail() { echo "$1: $2" >>"$WORK/failed"; log "FAILED $1: $2"; }

# probe PIECE MODULE QUERY -> prints the resolved version; a refusal or time-out is recorded.
probe() {
  local piece=$1 mod=$2 q=$3 out code body
  [[ -z "$PROXY" ]] && { echo "$q"; return 0; }   # no proxy to ask: let go decide
  out=$(curl -sS -m 120 -w '\n%{http_code}' "${PROXY%/}/$(sed 's/[A-Z]/!\L&/g' <<<"$mod")/@v/$q.info" 2>&1) || {
    fail "$piece" "no answer from the Go module proxy for $mod@$q (time-out, may go through later)"; return 1; }
  code=${out##*$'\n'} body=${out%$'\n'*}
  if [[ "$code" == 200 ]]; then jq -r .Version <<<"$body"; return 0; fi
  if [[ "$code" =~ ^(403|404|410)$ ]]; then
    refuse "$piece" "$mod@$q -> $code $(tr '\n' ' ' <<<"$body" | sed 's/ *$//')"
  else
    fail "$piece" "$mod@$q -> HTTP $code $(tr '\n' ' ' <<<"$body" | head -c 300)"
  fi
  return 1
}

# fetch MODULE@VERSION DEST: a writable copy of the module's source.
fetch() {
  local dir
  dir=$(go mod download -json "$1" | jq -r '.Dir // empty') || return 1
  [[ -n "$dir" ]] || return 1
  rm -rf "$2"; cp -r "$dir" "$2"; chmod -R u+w "$2"
}

timed() { # timed PIECE FUNCTION ARGS...: run one piece, report its duration and outcome
  local piece=$1 t0=$SECONDS rc=0; shift
  log "--- $piece"
  # A subshell outside any if/&&, so set -e stops the piece at its first failing step.
  # All its output goes to stderr (stdout carries only the export line), host name masked.
  set +e; ( set -e; "$@" ) 2>&1 | redact >&2; rc=${PIPESTATUS[0]}; set -e
  if ((rc == 0)); then log "$piece: built in $((SECONDS - t0)) s"; return; fi
  ((rc == 99)) || fail "$piece" "build failed (exit $rc), see output above"
  log "$piece: not built ($((SECONDS - t0)) s)"
}

# Replace lines of a go.mod, minus local-path ones (they point into pulumi's own checkout).
replaces() {
  awk '/^replace[ \t]*\(/ {b=1; next} b && /^\)/ {b=0; next} b {print; next}
       /^replace[ \t]/ {sub(/^replace[ \t]+/, ""); print}' "$1" | grep -v -E '=>[[:space:]]*\.\.?/' || true
}

# A throw-away module pinning pkg/v3 and sdk/v3 to one version: pkg's own go.mod points sdk
# at ../sdk, so `go install pkg@version` refuses to build it.
wrapper() { # wrapper DIR TOOL-PACKAGE EXTRA-REQUIRE-LINE...
  local dir=$1 tool=$2; shift 2
  mkdir -p "$dir"
  go mod download -json "$PKG_MODULE@v$PULUMI_VERSION" | jq -r .GoMod | xargs cat >"$dir/pkg.mod"
  {
    echo "module pg-replication.local/toolchain"
    grep -m1 '^go ' "$dir/pkg.mod"
    echo "require ("
    echo "  $PKG_MODULE v$PULUMI_VERSION"
    echo "  $SDK_MODULE v$PULUMI_VERSION"
    local l; for l in "$@"; do echo "  $l"; done
    echo ")"
    echo "tool $tool"
    echo "replace ("; replaces "$dir/pkg.mod"; echo ")"
  } >"$dir/go.mod"
  rm "$dir/pkg.mod"
  (cd "$dir" && go mod tidy)
  local got; got=$(cd "$dir" && go list -m -f '{{.Version}}' "$SDK_MODULE")
  [[ "$got" == "v$PULUMI_VERSION" ]] || { log "sdk/v3 resolved to $got, not v$PULUMI_VERSION"; return 1; }
}

build_cli() {
  probe cli "$PKG_MODULE" "v$PULUMI_VERSION" >/dev/null || return 99
  wrapper "$WORK/cli" "$PKG_MODULE/cmd/pulumi"
  (cd "$WORK/cli" && go build -trimpath -o "$BIN/pulumi.tmp" \
    -ldflags "-s -w -X $SDK_MODULE/go/common/version.Version=v$PULUMI_VERSION" "$PKG_MODULE/cmd/pulumi")
  mv "$BIN/pulumi.tmp" "$BIN/pulumi"
}

build_langhost() {
  local dir="$WORK/langhost" out="$LANGHOST_DIR/pulumi-language-nodejs"
  probe language-host "$SDK_MODULE" "$LANGHOST_SDK_VERSION" >/dev/null || return 99
  mkdir -p "$dir" "$LANGHOST_DIR"
  printf 'module pg-replication.local/langhost\ngo 1.21\n' >"$dir/go.mod"
  (cd "$dir" && go get "$SDK_MODULE/nodejs/cmd/pulumi-language-nodejs@$LANGHOST_SDK_VERSION" &&
    go build -trimpath -o "$out.tmp" \
      -ldflags "-s -w -X $SDK_MODULE/go/common/version.Version=$LANGHOST_SDK_VERSION" \
      "$SDK_MODULE/nodejs/cmd/pulumi-language-nodejs")
  mv "$out.tmp" "$out"
}

build_command() {
  local ver out="$PLUGINS/pulumi-resource-command-v$COMMAND_VERSION"
  ver=$(probe "command $COMMAND_VERSION" "$COMMAND_MODULE" "$COMMAND_REF") || return 99
  fetch "$COMMAND_MODULE@$ver" "$WORK/command"
  (cd "$WORK/command" && go build -trimpath -o "$out.tmp" \
    -ldflags "-s -w -X $COMMAND_MODULE/pkg/version.Version=$COMMAND_VERSION" ./cmd/pulumi-resource-command)
  mv "$out.tmp" "$out"
}

# Bridged providers: the provider's go.mod replaces its Terraform upstream with ../upstream,
# so the upstream is laid next to it, then the schema is embedded and the binary built.
build_bridged() { # NAME VERSION MODULE REF UPSTREAM UPSTREAM_REF FIXUP-FUNCTION
  local name=$1 version=$2 mod=$3 ref=$4 up=$5 upref=$6 fixup=$7 ver upver
  local out="$PLUGINS/pulumi-resource-$name-v$version" d="$WORK/$name"
  ver=$(probe "$name $version" "$mod" "$ref") || return 99
  upver=$(probe "$name $version (upstream)" "$up" "$upref") || return 99
  mkdir -p "$d"
  fetch "$mod@$ver" "$d/provider"
  fetch "$up@$upver" "$d/upstream"
  "$fixup" "$d/upstream"
  (cd "$d/provider/cmd/pulumi-resource-$name" && VERSION=$version go run generate.go &&
    go build -trimpath -o "$out.tmp" \
      -ldflags "-s -w -X $mod/pkg/version.Version=$version" .)
  mv "$out.tmp" "$out"
}

fixup_docker() { # the provider imports .../shim, which the upstream lacks
  mkdir -p "$1/shim"
  cat >"$1/shim/shim.go" <<'EOF'
package shim

import (
	"github.com/hashicorp/terraform-plugin-sdk/v2/helper/schema"
	"github.com/terraform-providers/terraform-provider-docker/internal/provider"
)

func NewProvider() *schema.Provider { return provider.New("dev")() }
EOF
}

fixup_postgresql() { # the provider replaces the cyrilgdn path, the upstream still declares the old one
  sed -i "s#github.com/terraform-providers/terraform-provider-postgresql#$POSTGRESQL_UPSTREAM#" \
    "$1/go.mod" "$1/main.go"
}

piece() { # piece BINARY LABEL FUNCTION ARGS...: build unless the binary is cached
  local bin=$1 label=$2; shift 2
  if [[ -x "$bin" ]]; then log "$label: cached ($bin)"; else timed "$label" "$@"; fi
}
piece "$LANGHOST_DIR/pulumi-language-nodejs" "language host pulumi-language-nodejs ($LANGHOST_SDK_VERSION)" build_langhost
# Beside the CLI, where it looks first (no "from \$PATH" warning).
[[ -x "$LANGHOST_DIR/pulumi-language-nodejs" ]] && ln -sf "$LANGHOST_DIR/pulumi-language-nodejs" "$BIN/pulumi-language-nodejs"
piece "$PLUGINS/pulumi-resource-command-v$COMMAND_VERSION" "plugin command $COMMAND_VERSION" build_command
piece "$PLUGINS/pulumi-resource-docker-v$DOCKER_VERSION" "plugin docker $DOCKER_VERSION" \
  build_bridged docker "$DOCKER_VERSION" "$DOCKER_MODULE" "$DOCKER_REF" \
  "$DOCKER_UPSTREAM" "$DOCKER_UPSTREAM_REF" fixup_docker
piece "$PLUGINS/pulumi-resource-postgresql-v$POSTGRESQL_VERSION" "plugin postgresql $POSTGRESQL_VERSION" \
  build_bridged postgresql "$POSTGRESQL_VERSION" "$POSTGRESQL_MODULE" "$POSTGRESQL_REF" \
  "$POSTGRESQL_UPSTREAM" "$POSTGRESQL_UPSTREAM_REF" fixup_postgresql
# The CLI last: it takes many minutes cold. It is built even when a plugin is refused: the
# stand-in plugins (stand-ins/, PG_REPLICATION_STAND_IN_PLUGINS=1) need the real CLI.
piece "$BIN/pulumi" "cli pulumi v$PULUMI_VERSION" build_cli

# Install built plugins under PULUMI_HOME at the exact versions the npm SDKs request.
if [[ -x "$BIN/pulumi" ]]; then
  installed=$(pulumi plugin ls 2>/dev/null || true)
  for p in "${PLUGIN_LIST[@]}"; do
    n=${p% *} v=${p#* } f="$PLUGINS/pulumi-resource-${p% *}-v${p#* }"
    [[ -x "$f" ]] || continue
    if listed "$installed" "$n" "$v"; then
      log "plugin $n $v: already installed"
    else
      pulumi plugin install resource "$n" "$v" --file "$f" >&2 || fail "plugin $n $v" "install failed"
    fi
  done
fi

echo "export PATH=\"$BIN:\$PATH\""
if [[ -s "$WORK/refused" || -s "$WORK/failed" ]]; then
  log "missing pieces:"
  sed "s/^/$me:   /" "$WORK/refused" "$WORK/failed" >&2
  [[ -s "$WORK/failed" ]] && exit 1
  # Only refused provider plugins leave a usable CLI (stand-ins can take their place).
  grep -qv -E '^(command|docker|postgresql) ' "$WORK/refused" && exit 1
  exit 3
fi
log "toolchain complete in $BIN"
