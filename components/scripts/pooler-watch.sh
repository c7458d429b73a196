#!/bin/sh
# The read-only endpoint's watcher: runs in its pooler's container beside PgBouncer and decides
# where reads go. Every INTERVAL seconds it asks each node (in parallel, each bounded by
# PGCONNECT_TIMEOUT and `timeout`) whether it is in recovery and how far its WAL is; the standbys whose replay is
# at most MAX_LAG_BYTES behind the primary's current WAL get the reads; when none is, the primary
# gets them (reads keep working, never from a standby over the bound). A changed choice is written
# to target.ini and PgBouncer reloads it: its server connections to a node left out close as their
# transactions end (loader.c tag_database_dirty), so no client sees an error for it.
# Without exactly one primary answering (a switchover or failover in its window) it measures
# nothing and keeps the choice it has.
# PgBouncer 1.17 and later takes several hosts per database and spreads new server connections
# over them (round robin, the default before and after 1.24's load_balance_hosts); older ones take
# one host: then reads go to one fit standby, the one they went to while it stays fit, unless it is
# on another host and one on the pooler's own host is fit (as when that one caught up after the
# first choice was made).
# Nodes on several engines: members lists the nodes on the pooler's own engine first (at their
# cluster address, port 5432), the others at their host's address and published port, reached over
# TLS verified against the stack's CA (TLS=1). PgBouncer takes one port for all the hosts of an
# entry, so reads go to the fit standbys that share the port of the first fit one in that order:
# the ones on the pooler's own host when any is fit.
# Usage: pooler-watch.sh DIR [--once]   (--once: choose and write target.ini, no reload, exit;
# fails when no primary answers). DIR holds: members (one "name address port" per line), watch.conf
# (MAX_LAG_BYTES INTERVAL AUTH_USER ADMIN_PSQL, TLS), pgpass (the lookup role's password), target.ini,
# ca.crt (with TLS).
# An update (pooler-config.sh) rewrites these files under the running loop, then runs --once: the
# loop reads members and watch.conf again at each pass, so it never undoes the new choice with the
# old settings, and runs a rewritten watch.sh in its place.
set -u
dir=$1
once=${2:-}
export PGPASSFILE="$dir/pgpass" PGCONNECT_TIMEOUT=2

# settings: watch.conf, and libpq's TLS as it says (off again when it no longer does).
settings() {
    TLS=
    . "$dir/watch.conf"
    if [ "$TLS" = 1 ]; then
        export PGSSLMODE=verify-full PGSSLROOTCERT="$dir/ca.crt"
    else
        unset PGSSLMODE PGSSLROOTCERT
    fi
}
settings

say() { printf '%s pooler-watch: %s\n' "$(date -u +%H:%M:%S)" "$*"; }

# The WAL position X/Y as a number of bytes.
lsn_bytes() { echo $(( 0x${1%/*} * 4294967296 + 0x${1#*/} )); }

# Several hosts per database since PgBouncer 1.17.
version=$(pgbouncer --version 2>/dev/null | sed -n 's/^[Pp]g[Bb]ouncer \([0-9]*\)\.\([0-9]*\).*/\1 \2/p' | head -n 1)
multi=0
set -- $version
[ $# -eq 2 ] && { [ "$1" -gt 1 ] || [ "$2" -ge 17 ]; } && multi=1

# choose: prints the target line, or nothing when it cannot measure; the reason on fd 3.
choose() {
    work=$(mktemp -d)
    while read -r name address port; do
        [ -n "$address" ] || continue
        timeout -k 1 4 psql -X -q -A -t -F ' ' -h "$address" -p "${port:-5432}" -U "$AUTH_USER" -d postgres -c \
            "SELECT pg_is_in_recovery(), CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() ELSE pg_current_wal_lsn() END" \
            > "$work/$name" 2>/dev/null < /dev/null &
    done < "$dir/members"
    wait
    primary='' primary_address='' primary_port='' primaries=0 top=0
    while read -r name address port; do
        read -r recovery lsn < "$work/$name" 2>/dev/null || continue
        if [ "$recovery" = f ]; then
            primaries=$((primaries + 1)) primary=$name primary_address=$address primary_port=${port:-5432} top=$(lsn_bytes "$lsn")
        fi
    done < "$dir/members"
    if [ "$primaries" -ne 1 ]; then
        rm -rf "$work"
        echo "$primaries primaries answer" >&3
        return 0
    fi
    fit='' fit_names='' fit_port='' fit_rank=-1 current=$(sed -n 's/^\* = host=\([^ ]*\) .*/\1/p' "$dir/target.ini" 2>/dev/null)
    while read -r name address port; do
        # A member without a port is on the pooler's own engine (its bridge, 5432).
        own=0
        [ -n "$port" ] || own=1
        port=${port:-5432}
        read -r recovery lsn < "$work/$name" 2>/dev/null || continue
        [ "$recovery" = t ] && [ -n "$lsn" ] || continue
        lag=$((top - $(lsn_bytes "$lsn")))
        [ "$lag" -le "$MAX_LAG_BYTES" ] || continue
        if [ "$multi" = 1 ]; then
            [ -z "$fit_port" ] || [ "$port" = "$fit_port" ] || continue
            fit=${fit:+$fit,}$address fit_names="$fit_names $name" fit_port=$port
        else
            # One host: its own host's before another's, then the one reads go to, then the first.
            rank=$((own * 2))
            [ "$address" != "$current" ] || rank=$((rank + 1))
            if [ "$rank" -gt "$fit_rank" ]; then
                fit=$address fit_names=" $name" fit_port=$port fit_rank=$rank
            fi
        fi
    done < "$dir/members"
    rm -rf "$work"
    if [ -n "$fit" ]; then
        echo "* = host=$fit port=$fit_port"
        echo "standbys within ${MAX_LAG_BYTES} bytes:$fit_names" >&3
    else
        echo "* = host=$primary_address port=$primary_port"
        echo "no standby within ${MAX_LAG_BYTES} bytes: the primary $primary" >&3
    fi
}

# apply: writes a changed target; returns 0 when it changed. The files of this process's own
# (--once runs beside the loop): neither reads the other's reason nor publishes its half-written file.
apply() {
    [ -n "$1" ] || return 1
    [ "$1" != "$(cat "$dir/target.ini" 2>/dev/null)" ] || return 1
    printf '%s\n' "$1" > "$dir/target.ini.new.$$" && mv "$dir/target.ini.new.$$" "$dir/target.ini"
}
why_file=$dir/why.$$

if [ "$once" = --once ]; then
    target=$(choose 3>"$why_file")
    why=$(cat "$why_file")
    rm -f "$why_file"
    [ -n "$target" ] || { echo "no single primary among the nodes ($why)" >&2; exit 1; }
    apply "$target" || true
    echo "$why"
    exit 0
fi

code=$(cksum < "$0")
while :; do
    if now=$(cksum < "$0") && [ "$now" != "$code" ]; then
        say "watch.sh changed: running the new one"
        exec sh "$0" "$dir"
    fi
    settings
    target=$(choose 3>"$why_file")
    if apply "$target"; then
        # shellcheck disable=SC2086  # ADMIN_PSQL is an argument list without blanks inside its words
        $ADMIN_PSQL -c RELOAD >/dev/null 2>&1 || say "RELOAD failed"
        say "reads go to ${target#* = } ($(cat "$why_file"))"
    fi
    sleep "$INTERVAL"
done
