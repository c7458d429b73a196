# Clones the primary into a standby's volume with pg_basebackup -R -Xs and a physical slot of
# the standby's own, from a throwaway container at the standby's address (the only address the
# primary accepts replication from). The replication password arrives on stdin as a passfile
# line and is written to a file only postgres can read; it never reaches argv or env.
# env: PRIMARY_CONTAINER PRIMARY_ADDRESS NETWORK IMAGE VOLUME STANDBY_ADDRESS SLOT
#      REPLICATION_USER HELPER_CONTAINER DOCKER_LABELS [PASSFILE_ONLY=1: only rewrite the passfile]

clone=$(cat <<'IN_CONTAINER'
set -eu
umask 077
root=/var/lib/postgresql/data
pgdata=$root/pgdata
passfile=$root/replication.pgpass
cat > "$passfile.new"
mv "$passfile.new" "$passfile"
[ "${PASSFILE_ONLY:-}" != 1 ] || exit 0
# An earlier attempt that died half way leaves files pg_basebackup will not overwrite.
rm -rf "$pgdata"
conninfo="host=$PRIMARY_ADDRESS port=5432 user=$REPLICATION_USER application_name=$SLOT passfile=$passfile"
pg_basebackup -D "$pgdata" -R -X stream -C -S "$SLOT" -c fast -d "$conninfo"
# -R copies into primary_conninfo the password libpq read from the passfile; name the passfile instead.
auto=$pgdata/postgresql.auto.conf
grep -v '^primary_conninfo' "$auto" > "$auto.new" || true
printf "primary_conninfo = '%s'\nprimary_slot_name = '%s'\n" "$conninfo" "$SLOT" >> "$auto.new"
mv "$auto.new" "$auto"
if grep -q 'password=' "$auto"; then echo "a password is still in $auto" >&2; exit 1; fi
echo "cloned $PRIMARY_ADDRESS into $pgdata with slot $SLOT"
IN_CONTAINER
)

set --
for label in $DOCKER_LABELS; do set -- "$@" --label "$label"; done
if [ "${PASSFILE_ONLY:-}" = 1 ]; then
    # The standby holds its address now; rewriting a file needs no network at all.
    set -- "$@" --network none
else
    docker rm -f "$HELPER_CONTAINER" >/dev/null 2>&1 || true
    # A slot left by an attempt that failed after creating it would make --create-slot fail.
    primary_sql "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots
                 WHERE slot_name = '$SLOT' AND NOT active" >/dev/null
    set -- "$@" --name "$HELPER_CONTAINER" --network "$NETWORK" --ip "$STANDBY_ADDRESS"
fi
docker run --rm -i "$@" --user postgres -v "$VOLUME:/var/lib/postgresql/data" \
    -e PRIMARY_ADDRESS -e REPLICATION_USER -e SLOT -e PASSFILE_ONLY \
    --entrypoint /bin/sh "$IMAGE" -c "$clone"
