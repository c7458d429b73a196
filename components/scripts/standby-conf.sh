# In-container fragment (not a command script): defines standby_conf. Sent along by the clone
# (node-seed.sh, as $STANDBY_CONF_SH) and by the topology step (components/topology/act.ts).
# standby_conf PGDATA CONNINFO SLOT: the data directory made a standby of CONNINFO with slot SLOT:
# standby.signal; primary_conninfo as given (it names the passfile, never a password: pg_basebackup
# -R would copy the password libpq read from it); primary_slot_name; no commit policy of its own
# (a copy of a primary brings the primary's along, and a standby has none).
standby_conf() {
    touch "$1/standby.signal"
    grep -v -E '^(primary_conninfo|primary_slot_name|synchronous_standby_names|synchronous_commit) ' \
        "$1/postgresql.auto.conf" > "$1/auto.new" || true
    printf "primary_conninfo = '%s'\nprimary_slot_name = '%s'\n" "$2" "$3" >> "$1/auto.new"
    mv "$1/auto.new" "$1/postgresql.auto.conf"
}
