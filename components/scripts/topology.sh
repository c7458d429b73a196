# Makes the declared primary the actual one. The role of a node is state in its data directory,
# so this asks every running node (pg_is_in_recovery) instead of trusting stored inputs. When the
# declared primary already is the only primary, nothing happens. When another node is primary,
# this is a switchover, in an order that loses no acknowledged commit:
#   1. checks: the target streams from the current primary, on its timeline, its replay is not
#      paused and at most MAX_LAG_BYTES behind;
#   2. on the target, still a standby: a slot for every other node and the commit policy, so
#      both are in place the moment it is promoted;
#   3. the old primary stopped cleanly (`docker stop -t 60`: fast shutdown; a container stopped
#      this way is not restarted by its `unless-stopped` policy), its shutdown checkpoint read
#      from its volume (pg_controldata), and the target waited for until it has replayed it: it
#      then holds every commit the old primary ever acknowledged;
#   4. the target promoted (pg_promote);
#   5. every other running standby repointed with ALTER SYSTEM SET primary_conninfo and a reload
#      (reloadable from PostgreSQL 13, no restart);
#   6. the old primary rewritten as a standby of the new one in its own volume (standby.signal,
#      primary_conninfo with the passfile, primary_slot_name, no commit policy), through a
#      throwaway container without network, and started; if it cannot follow, pg_rewind; if that
#      fails too, a fresh clone (said in the output);
#   7. gates: every running standby streams from the new primary in its promised sync_state.
# If the old primary has not been stopped yet when a check fails, nothing has changed. If the
# target does not replay the shutdown checkpoint, the old primary is started again as it was.
#
# When no reachable node runs as primary (its container killed, paused, cut off from NETWORK),
# this is a failover to the declared primary, a reachable standby (preview already refused a
# target that may lack acknowledged commits, components/topology.ts; the WAL check is repeated):
#   F1. every other node that is down is FENCED first: restart policy `no` (Docker never starts it
#       again by itself, not on a daemon restart or a reboot), stopped or killed (a paused one is
#       killed), and standby.signal + primary_conninfo pointing at the target written into its
#       volume, so whoever starts it gets a read-only standby, never a second primary;
#   F2. slots and the commit policy on the target, promotion, the other standbys repointed (as 2, 4, 5).
# Then, for every up: each running node that does not stream from the primary (a fenced node whose
# container was started again, a standby that diverged) is brought in: pg_rewind (it says when no
# rewind is needed), a fresh clone only when that fails, said in the output; its restart policy
# is set back to unless-stopped.
# Across Docker engines (PEERS, lib.sh) each docker call goes to the node's own engine and a node
# follows a primary on another engine at its published address over TLS (route, lib.sh).
# env: NODES ("name:container:address:volume ...") [PEERS] PRIMARY SYNC_NAMES SYNC_COMMIT EXPECTED ("name=state ...")
#      MAX_LAG_BYTES REPLICATION_USER IMAGE NETWORK DOCKER_LABELS TIMEOUT [DOWN_NODES] [ALLOW_DATA_LOSS]

PASSFILE=/var/lib/postgresql/data/replication.pgpass
# In a node's volume, outside its data directory: what a demoted former primary committed that
# nobody else has (demote_stale); its rejoin needs allowDataLoss while this is there.
DIVERGED=/var/lib/postgresql/data/diverged
PGDATA_IN_VOLUME=/var/lib/postgresql/data/pgdata
STOP_SECONDS=60

# field NAME INDEX: one field (1 container, 2 address, 3 volume) of a node in NODES.
field() {
    for _entry in $NODES; do
        if [ "${_entry%%:*}" = "$1" ]; then
            echo "$_entry" | cut -d: -f$(( $2 + 1 ))
            return 0
        fi
    done
    return 1
}
names() { for _entry in $NODES; do printf '%s\n' "${_entry%%:*}"; done; }

conninfo() { # conninfo NODE: NODE's primary_conninfo for following the new primary (route, lib.sh)
    printf '%s user=%s application_name=%s passfile=%s' "$(route "$1" "$new" "$na")" "$REPLICATION_USER" "$1" "$PASSFILE"
}

# up CONTAINER: running, not paused, and on the cluster network (a node cut off from it reaches nobody).
up() {
    [ "$(dk "$1" inspect -f "{{.State.Status}} {{if index .NetworkSettings.Networks \"$NETWORK\"}}on{{end}}" "$1" \
        2>/dev/null)" = "running on" ]
}
# received CONTAINER: the furthest WAL a standby holds (what a promotion keeps).
received() { node_sql "$1" "SELECT greatest(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn())"; }

# Across engines, a node whose engine does not answer (its host lost: stopped, cut off) is not
# asked anything: a docker call to it would wait until the engine came back. Each engine is asked
# once, in parallel, bounded.
LOST=
if [ -n "${PEERS:-}" ]; then
    _silent=$(mktemp)
    for _engine in $(for _p in $PEERS; do printf '%s\n' "$_p" | cut -d'|' -f3; done | sort -u); do
        # An engine that refuses the CLI's API version has answered (lib.sh docker).
        ( _said=$(DOCKER_HOST=$_engine timeout -k 1 "${ENGINE_PROBE_SECONDS:-5}" docker version --format '{{.Server.Version}}' 2>&1) ||
            case $_said in
                *"Maximum supported API version is"*) ;;
                *) printf '%s\n' "$_engine" >> "$_silent" ;;
            esac ) &
    done
    wait
    for name in $(names); do
        _engine=$(peer_field 1 "$name" 3)
        if grep -qxF -- "$_engine" "$_silent"; then
            LOST="$LOST $name"
            log "$name: its Docker engine ($_engine) does not answer within ${ENGINE_PROBE_SECONDS:-5}s"
        fi
    done
    rm -f "$_silent"
fi
lost() { case " $LOST " in *" $1 "*) return 0 ;; esac; return 1; }

# timeline CONTAINER: the timeline a primary writes on.
timeline() { node_sql "$1" "SELECT ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int"; }
# endpoint FROM TO: "host port" at which node FROM reaches node TO (route, lib.sh).
endpoint() { route "$1" "$2" "$(field "$2" 2)" | sed 's/^host=\([^ ]*\) port=\([0-9]*\).*/\1 \2/'; }

# Which nodes are up, and which of them is primary.
primaries=
for name in $(names); do
    lost "$name" && continue
    container=$(field "$name" 1)
    if up "$container" && [ "$(node_sql "$container" "SELECT pg_is_in_recovery()" 2>/dev/null)" = f ]; then
        primaries="$primaries $name"
    fi
done
new=$PRIMARY
nc=$(field "$new" 1) na=$(field "$new" 2)
# Several primaries: only a former primary that came back after a failover (its host was lost,
# so it could not be fenced) next to the declared primary, on a timeline the declared primary
# left when it was promoted, is understood; it is demoted below (demote_stale). Anything else
# is for a person to sort out.
stale=
set -- $primaries
if [ $# -gt 1 ]; then
    case " $primaries " in
        *" $new "*) ;;
        *) fail "more than one node runs as primary:$primaries; stop all but one before running up again" ;;
    esac
    ptli=$(timeline "$nc")
    history=$(node_sql "$nc" "SELECT pg_read_file('pg_wal/' || lpad(upper(to_hex($ptli)), 8, '0') || '.history')" 2>/dev/null) || history=
    for name in $primaries; do
        [ "$name" = "$new" ] && continue
        tli=$(timeline "$(field "$name" 1)")
        # A history line: "parentTLI<TAB>switchpoint<TAB>reason".
        switchpoint=$(printf '%s\n' "$history" | awk -v t="$tli" '$1 == t { print $2; exit }')
        [ -n "$switchpoint" ] ||
            fail "more than one node runs as primary:$primaries; $name is on timeline $tli, which is not in the history" \
                "of $new (timeline $ptli), so it is not a former primary of $new; stop all but one before running up again"
        stale="$stale $name:$tli:$switchpoint"
    done
    primaries=" $new"
fi
FOLLOW_SECONDS=${FOLLOW_SECONDS:-30}
follows() { # follows NAME
    [ "$(node_sql "$nc" "SELECT state FROM pg_stat_replication WHERE application_name = '$1'")" = streaming ]
}

# rewrite NAME: NAME's volume made a standby of the new primary (standby.signal, primary_conninfo
# with the passfile, its slot, no commit policy), through a throwaway container without network.
rewrite() {
    dk "$(field "$1" 1)" run --rm $(docker_labels) --network none --user postgres -v "$(field "$1" 3):/var/lib/postgresql/data" \
        --entrypoint /bin/sh "$IMAGE" -c "
set -eu
cd $PGDATA_IN_VOLUME
touch standby.signal
grep -v -E '^(primary_conninfo|primary_slot_name|synchronous_standby_names|synchronous_commit) ' postgresql.auto.conf > auto.new || true
printf \"primary_conninfo = '%s'\\nprimary_slot_name = '%s'\\n\" '$(conninfo "$1")' '$1' >> auto.new
mv auto.new postgresql.auto.conf"
}

# rejoin NAME FIRST: brings NAME in as a standby of the new primary and sets \$how. FIRST is
# "start" after a clean switchover (nothing to rewind), "rewind" for a node that may have diverged.
rejoin() {
    _n=$1 _c=$(field "$1" 1) _a=$(field "$1" 2) _v=$(field "$1" 3)
    dk "$_c" stop -t "$STOP_SECONDS" "$_c" >/dev/null
    if [ "$2" = start ]; then
        rewrite "$_n"
        dk "$_c" start "$_c" >/dev/null
        how="after its clean shutdown, without a rewind"
        wait_for "$FOLLOW_SECONDS" follows "$_n" && dk "$_c" update --restart=unless-stopped "$_c" >/dev/null && return 0
        log "$_n does not follow $new after ${FOLLOW_SECONDS}s; rewinding it with pg_rewind"
        dk "$_c" stop -t "$STOP_SECONDS" "$_c" >/dev/null
    fi
    # pg_rewind reads the source's control file, which promotion updates only at its checkpoint.
    node_sql "$nc" "CHECKPOINT" >/dev/null
    node_sql "$nc" >/dev/null <<SQL
GRANT EXECUTE ON FUNCTION pg_catalog.pg_ls_dir(text, boolean, boolean) TO "$REPLICATION_USER";
GRANT EXECUTE ON FUNCTION pg_catalog.pg_stat_file(text, boolean) TO "$REPLICATION_USER";
GRANT EXECUTE ON FUNCTION pg_catalog.pg_read_binary_file(text) TO "$REPLICATION_USER";
GRANT EXECUTE ON FUNCTION pg_catalog.pg_read_binary_file(text, bigint, bigint, boolean) TO "$REPLICATION_USER";
SQL
    _source="$(route "$_n" "$new" "$na") user=$REPLICATION_USER dbname=postgres passfile=$PASSFILE"
    # pg_rewind (like pg_basebackup below) copies the source's configuration files: the node's own
    # pg_hba.conf is put back after it, as across hosts each node admits the others' addresses,
    # not its own (node-access.sh), and the copy would shut out the source's host.
    # A killed node is rewound too: pg_rewind (13+) first finishes its crash recovery in single-user
    # mode, which refuses standby.signal (a single-user server takes no connections), and rewrite
    # puts the signal back whatever happens. The killed server's postmaster.pid names PID 1, which
    # in this throwaway container is alive (and not the single-user server's parent), so postgres
    # would take the lock for a running server and refuse; the container was stopped above, so
    # the lock is stale. That single-user server does not get the node's command line, so
    # wal_log_hints (on there from the first start) goes into postgresql.auto.conf as well, or
    # the control file it leaves would say off and pg_rewind would refuse the target.
    # A node that ran as primary after another was promoted (demote_stale) holds commits nobody
    # else has, written down in its volume (DIVERGED): rewinding it discards them, so only with
    # pg-replication:allowDataLoss; the note goes with the rewind.
    _rc=0
    _out=$(dk "$_c" run --rm $(docker_labels) --network "$NETWORK" --ip "$_a" --user postgres \
        -v "$_v:/var/lib/postgresql/data" --entrypoint /bin/sh "$IMAGE" -c "
        if [ -e $DIVERGED ]; then
            [ '${ALLOW_DATA_LOSS:-}' = true ] || { cat $DIVERGED; exit 42; }
            echo \"discarding, as pg-replication:allowDataLoss allows: \$(cat $DIVERGED)\" >&2
            rm -f $DIVERGED
        fi
        cd $PGDATA_IN_VOLUME && rm -f standby.signal postmaster.pid && cp -p pg_hba.conf /tmp/pg_hba.conf.own &&
        { grep -q '^wal_log_hints' postgresql.auto.conf || echo \"wal_log_hints = 'on'\" >> postgresql.auto.conf; } &&
        pg_rewind --target-pgdata=$PGDATA_IN_VOLUME --source-server='$_source' && cp -p /tmp/pg_hba.conf.own pg_hba.conf" 2>&1) || _rc=$?
    rewrite "$_n"
    if [ "$_rc" -eq 42 ]; then
        fail "$_n is not brought in: $_out. pg_rewind would discard them. $_n is fenced (stopped, restart policy no)" \
            "and its data untouched: to read them, start it (docker start $_c: it comes up read-only with its own" \
            "data); to discard them and bring it in, set pg-replication:allowDataLoss to true and run up"
    fi
    if [ "$_rc" -eq 0 ] && dk "$_c" start "$_c" >/dev/null && wait_for "$FOLLOW_SECONDS" follows "$_n"; then
        dk "$_c" update --restart=unless-stopped "$_c" >/dev/null
        _said=$(printf '%s\n' "$_out" | grep -E 'diverged at|no rewind required' | sed 's/^.*pg_rewind: //' | head -n 1)
        how="after pg_rewind (${_said:-rewound})"
        return 0
    fi
    printf '%s\n' "$_out" >&2
    log "pg_rewind did not bring $_n back; LAST RESORT: $_n is cloned afresh from $new (its data is replaced)"
    dk "$_c" stop -t "$STOP_SECONDS" "$_c" >/dev/null
    node_sql "$nc" "SELECT pg_drop_replication_slot('$_n') FROM pg_replication_slots WHERE slot_name = '$_n' AND NOT active" >/dev/null
    dk "$_c" run --rm $(docker_labels) --network "$NETWORK" --ip "$_a" --user postgres \
        -v "$_v:/var/lib/postgresql/data" --entrypoint /bin/sh "$IMAGE" -c "
set -eu
cp -p $PGDATA_IN_VOLUME/pg_hba.conf /tmp/pg_hba.conf.own || true
rm -rf $PGDATA_IN_VOLUME.clone
pg_basebackup -D $PGDATA_IN_VOLUME.clone -X stream -C -S $_n -c fast -d '$(conninfo "$_n")'
rm -rf $PGDATA_IN_VOLUME
mv $PGDATA_IN_VOLUME.clone $PGDATA_IN_VOLUME
[ ! -e /tmp/pg_hba.conf.own ] || cp -p /tmp/pg_hba.conf.own $PGDATA_IN_VOLUME/pg_hba.conf" >&2
    rewrite "$_n"
    dk "$_c" start "$_c" >/dev/null
    wait_for "$TIMEOUT" follows "$_n" || fail "$_n does not follow $new even after a fresh clone"
    dk "$_c" update --restart=unless-stopped "$_c" >/dev/null
    how="after a FRESH CLONE (last resort)"
}

# prepare_target: a slot for every other node and the commit policy, on the target while it is
# still a standby, so both are in place the moment it is promoted.
prepare_target() {
    for name in $(names); do
        [ "$name" = "$new" ] && continue
        node_sql "$nc" "SELECT pg_create_physical_replication_slot('$name', true)
                        WHERE NOT EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = '$name')" >/dev/null
    done
    node_sql "$nc" >/dev/null <<SQL
ALTER SYSTEM SET synchronous_standby_names = '$SYNC_NAMES';
ALTER SYSTEM SET synchronous_commit = '$SYNC_COMMIT';
SELECT pg_reload_conf();
SQL
}

promote() {
    [ "$(node_sql "$nc" "SELECT pg_promote(true, $TIMEOUT)")" = t ] || fail "$new did not finish promotion within ${TIMEOUT}s"
}

# repoint SKIP: every other running standby follows the new primary, by reload (no restart).
repoint() {
    for name in $(names); do
        { [ "$name" = "$new" ] || [ "$name" = "$1" ]; } && continue
        container=$(field "$name" 1)
        if lost "$name" || ! up "$container"; then
            log "$name ($container) is not running; it is not repointed"
            continue
        fi
        node_sql "$container" >/dev/null <<SQL
ALTER SYSTEM SET primary_conninfo = '$(conninfo "$name")';
ALTER SYSTEM SET primary_slot_name = '$name';
SELECT pg_reload_conf();
SQL
    done
}

switchover() {
    oc=$(field "$old" 1) ov=$(field "$old" 3)
    log "switchover: $new ($nc) becomes the primary, $old ($oc) a standby of it"
    # 1. checks, before anything changes.
    running "$nc" || fail "switchover refused: $new ($nc) is not running"
    [ "$(node_sql "$nc" "SELECT pg_is_wal_replay_paused()")" = f ] ||
        fail "switchover refused: replay on $new is paused (SELECT pg_wal_replay_resume() on it, then run up again)"
    receiver=$(node_sql "$nc" "SELECT status || ' ' || coalesce(sender_host, '') || ' ' || received_tli FROM pg_stat_wal_receiver")
    set -- $receiver
    from_host=$(endpoint "$new" "$old")
    from_host=${from_host% *}
    [ "${1:-}" = streaming ] && [ "${2:-}" = "$from_host" ] ||
        fail "switchover refused: $new is not streaming from $old ($from_host): its WAL receiver reports '${receiver:-none}'"
    tli=$(timeline "$oc")
    [ "$3" = "$tli" ] || fail "switchover refused: $new is on timeline $3, $old on timeline $tli"
    replayed=$(node_sql "$nc" "SELECT pg_last_wal_replay_lsn()")
    lag=$(node_sql "$oc" "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '$replayed')::bigint")
    [ "$lag" -le "$MAX_LAG_BYTES" ] ||
        fail "switchover refused: $new has replayed up to $replayed, $lag bytes behind $old (more than $MAX_LAG_BYTES)"

    # 2. slots and the commit policy on the target while it is still a standby.
    prepare_target

    # 3. the old primary stopped cleanly; the target replays its shutdown checkpoint.
    dk "$oc" stop -t "$STOP_SECONDS" "$oc" >/dev/null
    control=$(dk "$oc" run --rm $(docker_labels) --network none --user postgres -v "$ov:/var/lib/postgresql/data:ro" \
        --entrypoint pg_controldata "$IMAGE" "$PGDATA_IN_VOLUME")
    state=$(printf '%s\n' "$control" | sed -n 's/^Database cluster state: *//p')
    checkpoint=$(printf '%s\n' "$control" | sed -n 's/^Latest checkpoint location: *//p')
    if [ "$state" != "shut down" ]; then
        dk "$oc" start "$oc" >/dev/null
        fail "switchover aborted: $old did not shut down cleanly (cluster state '$state'); it was started again as primary"
    fi
    has_checkpoint() { [ "$(node_sql "$nc" "SELECT pg_last_wal_replay_lsn() > '$checkpoint'::pg_lsn")" = t ]; }
    if ! wait_for "$TIMEOUT" has_checkpoint; then
        dk "$oc" start "$oc" >/dev/null
        fail "switchover aborted: $new did not replay $old's shutdown checkpoint $checkpoint within ${TIMEOUT}s" \
            "(replayed: $(node_sql "$nc" "SELECT pg_last_wal_replay_lsn()")); $old was started again as primary"
    fi

    # 4.-6. promotion, the other standbys repointed, the old primary rejoins.
    promote
    repoint "$old"
    rejoin "$old" start
    # Slots the old primary kept for its standbys would hold WAL on it now that nobody uses them.
    node_sql "$oc" "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE NOT active" >/dev/null ||
        log "the old slots on $old could not be dropped; drop them by hand (SELECT * FROM pg_replication_slots on $oc)"
    log "switchover: $new is the primary; $old rejoined as its standby $how"
}

# fence NAME: NAME can never come back as a primary: Docker will not start it by itself (restart
# policy no, which a daemon restart or a reboot honours), it is not running (killed; a paused one
# too: unpausing it would let it take writes), and its volume says standby of the new primary.
fence() {
    _c=$(field "$1" 1) _v=$(field "$1" 3)
    # An engine that does not answer cannot be told anything: with its host back, the node would
    # restart (unless-stopped) as a second primary. So no promotion without the fence.
    if lost "$1"; then
        # Its host is lost only when its server does not answer either, seen from the new
        # primary; a server that answers there is alive and may be taking writes.
        _to=$(endpoint "$new" "$1")
        _h=${_to% *} _p=${_to#* }
        _rc=0
        dk "$nc" exec -u postgres "$nc" pg_isready -q -h "$_h" -p "$_p" -t 3 || _rc=$?
        if [ "$_rc" -ne 2 ]; then
            fail "failover refused: the Docker engine of $1 does not answer but its server at $_h:$_p does, seen from" \
                "$new (pg_isready exit $_rc): $1 is not lost and may be taking writes; nothing was promoted. Bring its" \
                "engine back (or stop that server) and run up again."
        fi
        log "$1's host is lost: its engine does not answer and its server at $_h:$_p does not answer from $new; it cannot" \
            "be fenced now. If it comes back running as a primary, the next up demotes it (and says what it wrote meanwhile)"
        return 0
    fi
    if dk "$_c" inspect "$_c" >/dev/null 2>&1; then
        dk "$_c" update --restart=no "$_c" >/dev/null
        # Killed, not stopped: a server cut off from its standbys would hold a clean shutdown until its
        # walsenders gave up, and the node diverged anyway (it is rewound when it comes back).
        case $(dk "$_c" inspect -f '{{.State.Status}}' "$_c") in
            paused | restarting | running) dk "$_c" kill "$_c" >/dev/null ;;
        esac
        _seen=$(dk "$_c" inspect -f '{{.HostConfig.RestartPolicy.Name}} {{.State.Running}}' "$_c")
        [ "$_seen" = "no false" ] || fail "$1 ($_c) could not be fenced (restart policy, running: $_seen); nothing was promoted"
    fi
    if dk "$_c" volume inspect "$_v" >/dev/null 2>&1; then
        rewrite "$1" || fail "$1's volume $_v could not be rewritten as a standby of $new; nothing was promoted"
    fi
    log "$1 fenced: restart policy no, stopped, its volume a standby of $new"
}

# demote_stale NAME TIMELINE SWITCHPOINT: NAME runs as primary on TIMELINE, which the declared
# primary left at SWITCHPOINT when it was promoted: NAME came back after a failover that could
# not fence it (its host was lost). Fenced now (stopped at once, restart policy no, its volume a
# standby), then what it committed beyond the switchpoint is read from its WAL (pg_waldump:
# transactions that wrote to a user relation, relfilenode >= 16384, so autovacuum's statistics
# are not counted), split by the commit time against the promotion's (the END_OF_RECOVERY record
# the new primary wrote at the switchpoint):
#  - committed before the promotion: what the failover's plan announced as could-be-lost (the
#    commits its standbys had not received when its host was lost); said, and rewound away;
#  - committed after: writes taken while another node was primary. Written down in its volume
#    (DIVERGED): its rejoin needs allowDataLoss, and until then it stays fenced, data untouched.
# Commit times come from each host's clock: hosts are expected to keep time (NTP); a skew moves
# the line between the two by as much. Without the promotion's time every commit counts as after.
demote_stale() {
    _n=$1 _tli=$2 _sp=$3 _c=$(field "$1" 1) _v=$(field "$1" 3)
    log "$_n runs as primary on timeline $_tli, which $new left at $_sp when it was promoted: $_n is a former" \
        "primary back after a failover that could not fence it; fencing it now"
    fence "$_n"
    # The timeline that began at the switchpoint: the one after TIMELINE in the history, else the current one.
    _child=$(printf '%s\n' "$history" | awk -v t="$_tli" 'found { print $1; exit } $1 == t { found = 1 }')
    _promoted=$(dk "$nc" exec -u postgres "$nc" sh -c "pg_waldump -p \"\$PGDATA/pg_wal\" -t ${_child:-$ptli} -s $_sp -n 20 2>/dev/null" |
        sed -n 's/.*END_OF_RECOVERY.*; time \([0-9]\{4\}-[0-9-]* [0-9:.]*\).*/\1/p' | head -n 1) || _promoted=
    _seen=$(dk "$_c" run --rm $(docker_labels) --network none --user postgres -v "$_v:/var/lib/postgresql/data:ro" \
        --entrypoint /bin/sh "$IMAGE" -c "pg_waldump -p $PGDATA_IN_VOLUME/pg_wal -t $_tli -s $_sp 2>/dev/null || true" |
        awk -v promoted="$_promoted" '
             { tx = ""; if (match($0, /tx: *[0-9]+/)) { tx = substr($0, RSTART, RLENGTH); sub(/tx: */, "", tx) }
               if (match($0, /lsn: [0-9A-F]+\/[0-9A-F]+/)) end = substr($0, RSTART + 5, RLENGTH - 5) }
             tx != "" && tx != "0" && match($0, /rel [0-9]+\/[0-9]+\/[0-9]+/) {
               split(substr($0, RSTART + 4, RLENGTH - 4), r, "/"); if (r[3] + 0 >= 16384) user[tx] = 1 }
             /desc: COMMIT / && user[tx] {
               at = $0; sub(/^.*desc: COMMIT /, "", at); at = substr(at, 1, 26)
               if (promoted == "" || at > promoted) { after++; if (first == "") first = at } else before++ }
             END { printf "%d %d %s %s\n", after, before, end, first }')
    set -- $_seen
    _after=${1:-0} _before=${2:-0} _end=${3:-$_sp} _first=${4:-}${5:+ $5}
    if [ "$_before" -gt 0 ]; then
        log "$_n holds $_before transaction(s) writing user data committed before $new was promoted${_promoted:+ ($_promoted)}" \
            "that $new does not have: the loss the failover announced; its rewind discards them"
    fi
    if [ "$_after" -gt 0 ]; then
        _note="$_n committed $_after transaction(s) writing user data after $new was promoted"
        if [ -n "$_promoted" ]; then
            _note="$_note ($_promoted; the first at $_first), while it was cut off"
        else
            _note="$_note, or may have: the time of the promotion could not be read, so every one counts"
        fi
        _note="$_note (its WAL on timeline $_tli from $_sp up to $_end)"
        dk "$_c" run --rm $(docker_labels) --network none --user postgres -v "$_v:/var/lib/postgresql/data" \
            --entrypoint /bin/sh "$IMAGE" -c "printf '%s\n' '$_note' > $DIVERGED"
        log "WARNING: $_note"
    else
        log "$_n wrote no user data after $new was promoted (its WAL from $_sp on timeline $_tli)"
    fi
}

failover() {
    up "$nc" && [ "$(node_sql "$nc" "SELECT pg_is_in_recovery()" 2>/dev/null)" = t ] ||
        fail "failover refused: no reachable node runs as primary, and $new ($nc) is not a reachable standby to promote"
    [ "$(node_sql "$nc" "SELECT pg_is_wal_replay_paused()")" = f ] ||
        fail "failover refused: replay on $new is paused (SELECT pg_wal_replay_resume() on it, then run up again)"
    # F1. preview checked that the target holds every acknowledged commit it can be shown to; again
    # here, as WAL may have arrived since: no reachable standby may hold more.
    mine=$(received "$nc")
    down=
    for name in $(names); do
        [ "$name" = "$new" ] && continue
        container=$(field "$name" 1)
        if ! lost "$name" && up "$container" && [ "$(node_sql "$container" "SELECT pg_is_in_recovery()" 2>/dev/null)" = t ]; then
            theirs=$(received "$container")
            ahead=$(node_sql "$nc" "SELECT pg_wal_lsn_diff('$theirs', '$mine')::bigint")
            if [ "$ahead" -gt 0 ] && [ "${ALLOW_DATA_LOSS:-}" != true ]; then
                fail "failover refused: $name has received more WAL than $new: $name up to $theirs, $new up to $mine" \
                    "($ahead bytes more); promote $name instead, or set pg-replication:allowDataLoss to true"
            fi
        else
            down="$down $name"
        fi
    done
    log "failover: no reachable primary; $new ($nc, WAL up to $mine) becomes the primary; fencing:${down:- nothing}"
    for name in $down; do
        fence "$name"
    done
    # F2. as a switchover from here on.
    prepare_target
    promote
    repoint ""
    log "failover: $new is the primary (timeline $(node_sql "$nc" "SELECT timeline_id FROM pg_control_checkpoint()"))"
}

changed=
for entry in $stale; do
    tli=${entry#*:}
    demote_stale "${entry%%:*}" "${tli%%:*}" "${entry##*:}"
    changed=1
done
set -- $primaries
if [ $# -eq 0 ]; then
    failover
    changed=1
elif [ "$1" != "$PRIMARY" ]; then
    old=$1
    switchover
    changed=1
fi

# Every running node that does not stream from the primary is brought in as its standby.
for name in $(names); do
    [ "$name" = "$new" ] && continue
    if lost "$name"; then
        log "$name is not brought in now: its Docker engine does not answer; the up after its host is back does it"
        continue
    fi
    container=$(field "$name" 1)
    if ! up "$container"; then
        # A fenced node that is stopped on the cluster network (killed, or its fault undone) is back:
        # it is rewound now. One still paused or cut off waits for the up after its fault is undone.
        seen=$(dk "$container" inspect -f "{{.HostConfig.RestartPolicy.Name}} {{.State.Status}} {{if index .NetworkSettings.Networks \"$NETWORK\"}}on{{end}}" \
            "$container" 2>/dev/null) || seen=
        case $seen in
            "no exited on" | "no created on") ;;
            no\ *) log "$name is fenced ($seen): undo its fault (unpause it, connect it to $NETWORK) and run up again" \
                "to bring it in as a standby of $new"; continue ;;
            *) continue ;;
        esac
        log "$name is fenced and stopped on $NETWORK; bringing it in as a standby of $new"
        rejoin "$name" rewind
        log "$name rejoined as a standby of $new $how"
        changed=1
        continue
    fi
    if wait_for "${JOIN_CHECK_SECONDS:-10}" follows "$name"; then
        # A fenced node that followed by itself once started (it had not diverged) is ordinary again.
        if [ "$(dk "$container" inspect -f '{{.HostConfig.RestartPolicy.Name}}' "$container")" = no ]; then
            dk "$container" update --restart=unless-stopped "$container" >/dev/null
            log "$name follows $new; its restart policy is unless-stopped again"
            changed=1
        fi
        continue
    fi
    log "$name runs but does not stream from $new; bringing it in as a standby"
    rejoin "$name" rewind
    log "$name rejoined as a standby of $new $how"
    changed=1
done

# Gates: every running standby streams from the primary, in its promised sync_state once the
# promised policy is in place. A switchover or failover applies it above; a changed policy alone
# (mode async -> sync, say) is the replication-policy command's, which runs after every node, so
# until then a standby is waited for as streaming only.
policy_live=$(node_sql "$nc" "SHOW synchronous_standby_names") || policy_live=
for pair in $EXPECTED; do
    name=${pair%%=*} want=${pair#*=} seen=
    if lost "$name" || ! up "$(field "$name" 1)"; then
        log "$name is not running; not waited for"
        continue
    fi
    [ "$policy_live" = "$SYNC_NAMES" ] || want="any sync_state (the new policy is applied later)"
    in_state() {
        seen=$(node_sql "$nc" "SELECT state || '/' || sync_state FROM pg_stat_replication WHERE application_name = '$name'") || seen=
        case $want in
            any*) [ "${seen%%/*}" = streaming ] ;;
            *) [ "$seen" = "streaming/$want" ] ;;
        esac
    }
    wait_for "$TIMEOUT" in_state ||
        fail "$name should stream from $new as $want but is ${seen:-not connected} after ${TIMEOUT}s"
done
if [ -n "$changed" ]; then
    log "topology: $new is the primary; standbys: ${EXPECTED:-none}"
else
    log "$new is the primary; nothing to switch"
fi
