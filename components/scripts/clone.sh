# In-container fragment (not a command script): defines clone_into; needs standby_conf
# (standby-conf.sh). Sent along by the seed (node-seed.sh, as $CLONE_SH) and by the topology step's
# last resort (components/topology/act.ts).
# clone_into PGDATA CONNINFO SLOT [keep-hba]: a fresh copy of CONNINFO's server, made a standby of
# it with slot SLOT. pg_basebackup writes into PGDATA.clone; only a finished clone takes PGDATA's
# place, so whatever is found at PGDATA.clone is a clone that died half way and never a cluster a
# server has run on. With keep-hba, PGDATA's own pg_hba.conf is kept: across hosts each node admits
# the others' addresses, not its own, so the source's copy would shut out the source's host.
# The source may be on another host that stops answering mid-clone (lost, or its link down): with
# the OS's defaults pg_basebackup's connections would wait hours (keepalives after 2 h idle). So
# libpq bounds the connect (CLONE_CONNECT_TIMEOUT) and probes a silent peer: a source whose host no
# longer answers ends the clone within about CLONE_KEEPALIVE seconds, as its error. Keepalives are
# not sent while data sent waits for its acknowledgement (the WAL stream's status updates, which
# pg_basebackup waits on at the end), so tcp_user_timeout bounds that wait the same. A live source's
# kernel answers both however long the server itself is silent (its checkpoint). Only pg_basebackup
# gets them: primary_conninfo is CONNINFO as given (standby_conf). Checked with pg_basebackup 13 and 17.
CLONE_CONNECT_TIMEOUT=15
CLONE_KEEPALIVE=60
clone_into() {
    _staging=$1.clone
    rm -rf "$_staging"
    _bounds="connect_timeout=$CLONE_CONNECT_TIMEOUT keepalives=1 keepalives_idle=15 keepalives_interval=5 keepalives_count=$(( (CLONE_KEEPALIVE - 15) / 5 )) tcp_user_timeout=$(( CLONE_KEEPALIVE * 1000 ))"
    if ! _out=$(pg_basebackup -D "$_staging" -R -X stream -C -S "$3" -c fast -d "$2 $_bounds" 2>&1); then
        printf '%s\n' "$_out" >&2
        rm -rf "$_staging"
        return 1
    fi
    # -R copies into primary_conninfo the password libpq read from the passfile; standby_conf names
    # the passfile instead and drops the primary's commit policy.
    standby_conf "$_staging" "$2" "$3"
    if grep -q 'password=' "$_staging/postgresql.auto.conf"; then
        echo "a password is still in $_staging/postgresql.auto.conf" >&2
        return 1
    fi
    if [ "${4:-}" = keep-hba ] && [ -f "$1/pg_hba.conf" ]; then
        cp -p "$1/pg_hba.conf" "$_staging/pg_hba.conf"
    fi
    rm -rf "$1"
    mv "$_staging" "$1"
}
