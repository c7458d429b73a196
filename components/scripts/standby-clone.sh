# Clones the primary into a standby's volume with pg_basebackup -R -Xs and a physical slot of
# the standby's own, from a throwaway container at the standby's address (the only address the
# primary accepts replication from). The password comes from the passfile that the standby's
# passfile command wrote into the volume before; it never reaches argv or env.
# This is the clone's create only: its update (standby-clone-check.sh) never clones.
# env: PRIMARY_CONTAINER PRIMARY_ADDRESS NETWORK IMAGE VOLUME STANDBY_ADDRESS SLOT
#      REPLICATION_USER HELPER_CONTAINER DOCKER_LABELS

clone=$(cat <<'IN_CONTAINER'
set -eu
umask 077
root=/var/lib/postgresql/data
pgdata=$root/pgdata
# pg_basebackup writes here; only a finished clone becomes $pgdata, so whatever is found here is
# a clone that died half way and never a cluster a server has run on.
staging=$root/pgdata.clone
passfile=$root/replication.pgpass
[ -s "$passfile" ] || { echo "no replication passfile at $passfile" >&2; exit 1; }
rm -rf "$staging"
conninfo="host=$PRIMARY_ADDRESS port=5432 user=$REPLICATION_USER application_name=$SLOT passfile=$passfile"
if ! out=$(pg_basebackup -D "$staging" -R -X stream -C -S "$SLOT" -c fast -d "$conninfo" 2>&1); then
    printf '%s\n' "$out" >&2
    rm -rf "$staging"
    exit 1
fi
# -R copies into primary_conninfo the password libpq read from the passfile; name the passfile instead.
auto=$staging/postgresql.auto.conf
grep -v '^primary_conninfo' "$auto" > "$auto.new" || true
printf "primary_conninfo = '%s'\nprimary_slot_name = '%s'\n" "$conninfo" "$SLOT" >> "$auto.new"
mv "$auto.new" "$auto"
if grep -q 'password=' "$auto"; then echo "a password is still in $auto" >&2; exit 1; fi
# A complete new clone exists: only now may it take the place of an older copy (a re-clone
# after the primary moved; no server runs on the volume, the host side checked).
rm -rf "$pgdata"
mv "$staging" "$pgdata"
IN_CONTAINER
)

# A server running on this volume means this is not a fresh clone: refuse rather than swap its
# data under it.
users=$(docker ps -a --filter "volume=$VOLUME" --format '{{.Names}}')
[ -z "$users" ] || fail "volume $VOLUME is in use by $users; a standby is cloned only into a volume no container uses"

set --
for label in $DOCKER_LABELS; do set -- "$@" --label "$label"; done
docker rm -f "$HELPER_CONTAINER" >/dev/null 2>&1 || true
# A slot left by an attempt that failed after creating it would make --create-slot fail.
primary_sql "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots
             WHERE slot_name = '$SLOT' AND NOT active" >/dev/null
docker run --rm "$@" --name "$HELPER_CONTAINER" --network "$NETWORK" --ip "$STANDBY_ADDRESS" \
    --user postgres -v "$VOLUME:/var/lib/postgresql/data" \
    -e PRIMARY_ADDRESS="$PRIMARY_ADDRESS" -e REPLICATION_USER="$REPLICATION_USER" -e SLOT="$SLOT" \
    --entrypoint /bin/sh "$IMAGE" -c "$clone"
log "standby $SLOT: cloned $PRIMARY_ADDRESS into volume $VOLUME with slot $SLOT"
