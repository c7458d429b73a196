# Host-side function for the seed (node-seed.sh) and, in a major upgrade, its update
# (node-seed-check.sh), not a command script: clone_node makes the node's volume a fresh clone of
# the primary (PRIMARY_CONTAINER, PRIMARY_NAME, PRIMARY_ADDRESS: find_primary), with pg_basebackup
# -R -Xs and a physical slot named after the node, from a throwaway container at the node's own
# address (the only address the primary accepts replication from for it); with the primary on
# another engine (PEERS), to its published address and port over TLS with verify-full. The password
# comes from the passfile the node's passfile command wrote into the volume; it never reaches argv
# or env. No container may use the volume (the caller checks). With KEEP_AS=DIR, the volume's
# cluster is moved to DIR (beside pgdata) before the clone instead of being replaced by it.
# env: NETWORK IMAGE VOLUME NODE NODE_ADDRESS REPLICATION_USER HELPER_CONTAINER DOCKER_LABELS [PEERS TLS_DIR KEEP_AS]
clone_in_container=$(cat <<'IN_CONTAINER'
set -eu
umask 077
root=/var/lib/postgresql/data
pgdata=$root/pgdata
passfile=$root/replication.pgpass
[ -s "$passfile" ] || { echo "no replication passfile at $passfile" >&2; exit 1; }
if [ -n "$KEEP_AS" ] && [ -d "$pgdata" ]; then
    rm -rf "${root:?}/$KEEP_AS"
    mv "$pgdata" "$root/$KEEP_AS"
fi
# A complete new clone takes the place of an older copy (clone_into, clone.sh).
clone_into "$pgdata" "$PRIMARY_ROUTE user=$REPLICATION_USER application_name=$NODE passfile=$passfile" "$NODE"
IN_CONTAINER
)
clone_node() {
    docker rm -f -v "$HELPER_CONTAINER" >/dev/null 2>&1 || true
    # A slot left by an attempt that failed after creating it would make --create-slot fail. The
    # primary may be on another engine: bounded, and past it or on an error said so (ask_or_fail).
    ask_or_fail "$PRIMARY_CONTAINER (the primary)" "whether a slot $NODE left by an earlier attempt was dropped" "node $NODE not cloned" \
        primary_sql "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots
                 WHERE slot_name = '$NODE' AND NOT active" >/dev/null
    _route=$(route "$NODE" "$PRIMARY_NAME" "$PRIMARY_ADDRESS")
    _via=
    case $_route in *sslmode=*) _via=", over TLS at ${_route%% sslrootcert=*}" ;; esac
    # Not bounded: the helper runs on this node's own engine (docker, not dk), and pg_basebackup takes
    # as long as the data does; no fixed bound fits every cluster, and a clone cut short is no clone.
    # shellcheck disable=SC2046
    docker run --rm $(docker_labels) --name "$HELPER_CONTAINER" --network "$NETWORK" --ip "$NODE_ADDRESS" \
        --user postgres -v "$VOLUME:/var/lib/postgresql/data" \
        -e PRIMARY_ROUTE="$_route" -e REPLICATION_USER="$REPLICATION_USER" -e NODE="$NODE" -e KEEP_AS="${KEEP_AS:-}" \
        --entrypoint /bin/sh "$IMAGE" -c "$STANDBY_CONF_SH
$CLONE_SH
$clone_in_container"
    log "node $NODE: cloned $PRIMARY_CONTAINER ($PRIMARY_ADDRESS$_via) into volume $VOLUME with slot $NODE"
}
