# In-container fragment (not a command script) for the upgrade image (images/upgrade: the new
# major's image with the old major's server binaries beside its own), as user postgres: a major
# upgrade with pg_upgrade, planned by components/topology/upgrade.ts (README "A new major").
# Defines upgrade_check (preview: pg_upgrade --check on a scratch copy of the schema, no data) and
# upgrade_data (up: pg_upgrade --link on the primary's volume, the new cluster swapped in by rename).
# env: OLD_MAJOR NEW_MAJOR ENCODING COLLATE CTYPE CHECKSUMS (on|off: the old cluster's data_checksums)

# new_cluster DIR BINDIR: an empty cluster as the node image's entrypoint makes one (the superuser
# postgres, peer on the socket, SCRAM over TCP), with the old cluster's encoding, locale and
# checksum setting: pg_upgrade refuses a new cluster that differs in them.
new_cluster() {
    _checksums=--data-checksums
    if [ "$CHECKSUMS" != on ]; then
        # 18's initdb turns checksums on unless told not to; older ones have no such option.
        _checksums=
        ! "$2/initdb" --help | grep -q -- --no-data-checksums || _checksums=--no-data-checksums
    fi
    # shellcheck disable=SC2086
    "$2/initdb" -D "$1" -U postgres --auth-local=peer --auth-host=scram-sha-256 -E "$ENCODING" \
        --lc-collate="$COLLATE" --lc-ctype="$CTYPE" $_checksums > "$1.initdb.log" 2>&1 ||
        { cat "$1.initdb.log" >&2; return 1; }
}

# pg_upgrade's own reports (the lists of columns, functions, ... it refused), at most 40 lines.
upgrade_reports() {
    for _r in "$1"/pg_upgrade_output.d/*/*.txt; do
        [ -f "$_r" ] || continue
        echo "${_r##*/}:"
        head -n 20 "$_r"
    done | head -n 40
}

# upgrade_check < SCHEMA: pg_upgrade --check from a scratch old-major cluster holding SCHEMA (what
# `pg_dumpall --schema-only --no-role-passwords` printed on the live primary) to a scratch
# new-major one: every check pg_upgrade makes on catalogs and column types (reg* and other types
# the new major reads differently, postfix operators, removed functions, loadable libraries), in a
# few seconds and with no copy of the data. A statement of SCHEMA that fails on the old major's own
# binaries (an extension this image lacks) fails the check too: the scratch copy would miss it.
# Prints pg_upgrade's report on failure.
upgrade_check() {
    _old=/usr/lib/postgresql/$OLD_MAJOR/bin _new=/usr/lib/postgresql/$NEW_MAJOR/bin
    _w=$(mktemp -d /tmp/check.XXXXXX)
    cd "$_w"
    new_cluster "$_w/old" "$_old"
    "$_old/pg_ctl" -D "$_w/old" -l "$_w/old.log" -o "-c listen_addresses='' -c unix_socket_directories=$_w" -w start >/dev/null
    psql -X -q -h "$_w" -U postgres -d postgres -f - > /dev/null 2> "$_w/restore.err" || true
    "$_old/pg_ctl" -D "$_w/old" -m fast -w stop >/dev/null
    # The superuser and the databases initdb made exist already.
    _failed=$(grep 'ERROR:' "$_w/restore.err" | grep -v -e 'role "postgres" already exists' \
        -e 'database "[^"]*" already exists' | head -n 5)
    if [ -n "$_failed" ]; then
        echo "the primary's schema does not load on PostgreSQL $OLD_MAJOR of the upgrade image:"
        echo "$_failed"
        return 1
    fi
    new_cluster "$_w/new" "$_new"
    if ! "$_new/pg_upgrade" --check -b "$_old" -B "$_new" -d "$_w/old" -D "$_w/new" -U postgres > "$_w/check.out" 2>&1; then
        grep -v -e '^$' -e ' ok$' "$_w/check.out" | tail -n 15
        upgrade_reports "$_w/new"
        return 1
    fi
}

# upgrade_data: the node volume's cluster (pgdata, cleanly shut down, of OLD_MAJOR) upgraded in
# place: a new cluster made beside it on the same volume (hard links need one filesystem: two
# volumes give "Invalid cross-device link"), pg_upgrade --link, the old cluster's pg_hba.conf and
# ALTER SYSTEM settings carried over (pg_upgrade carries neither) but for the commit policy: no
# standby streams to the new server until it is cloned again, so its commits would wait on none
# (the policy command sets it again once every standby streams), then the new cluster renamed to
# pgdata and the old one to pgdata.<old>-old (its files are the new one's, linked; removed once
# the new cluster is up). Until the new server has started, a failure leaves the old cluster whole:
# pg_upgrade --link changes nothing in it but the name of global/pg_control, given back here
# (PostgreSQL's pg_upgrade documentation, "Reverting to old cluster").
upgrade_data() {
    _old=/usr/lib/postgresql/$OLD_MAJOR/bin _new=/usr/lib/postgresql/$NEW_MAJOR/bin
    _root=/var/lib/postgresql/data
    _data=$_root/pgdata _next=$_root/pgdata.upgrade _kept=$_root/pgdata.$OLD_MAJOR-old
    [ "$(cat "$_data/PG_VERSION")" = "$OLD_MAJOR" ] || { echo "$_data is not PostgreSQL $OLD_MAJOR" >&2; return 1; }
    "$_old/pg_controldata" "$_data" | grep -q '^Database cluster state: *shut down$' ||
        { echo "$_data was not shut down cleanly" >&2; return 1; }
    rm -rf "$_next" "$_next.initdb.log" "$_kept"
    cd /tmp
    new_cluster "$_next" "$_new"
    if ! "$_new/pg_upgrade" --link -b "$_old" -B "$_new" -d "$_data" -D "$_next" -U postgres > /tmp/pg_upgrade.out 2>&1 ||
        ! cp -p "$_data/pg_hba.conf" "$_next/pg_hba.conf" ||
        ! grep -v '^synchronous_standby_names' "$_data/postgresql.auto.conf" > "$_next/postgresql.auto.conf" ||
        ! "$_new/postgres" -D "$_next" -C server_version > /tmp/settings.out 2>&1; then
        grep -v -e '^$' -e ' ok$' /tmp/pg_upgrade.out | tail -n 15 >&2
        [ ! -s /tmp/settings.out ] || tail -n 5 /tmp/settings.out >&2
        upgrade_reports "$_next" >&2
        [ ! -f "$_data/global/pg_control.old" ] || mv "$_data/global/pg_control.old" "$_data/global/pg_control"
        rm -rf "$_next" "$_next.initdb.log"
        return 1
    fi
    rm -f "$_next.initdb.log"
    mv "$_data" "$_kept"
    mv "$_next" "$_data"
}
