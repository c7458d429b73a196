# A major upgrade's last step (upgrade.sh made it), once every node streams again (after the
# commit policy's gate): the planner statistics, which pg_upgrade does not carry, rebuilt on the
# primary with vacuumdb --analyze-in-stages (a first rough pass in a second or two, then finer
# ones); then the old cluster's directories removed from every node's volume: the primary's
# pgdata.<major>-old (its files are the new cluster's, linked; unusable since the new server
# started) and the copy kept on the standby the upgrade marked; also after an upgrade given up by
# config (the primary then holds only the mark). Nothing to do otherwise.
# Left to a later up (said, exit 0) while a node is down or its engine does not answer: this step
# runs again once the nodes found down or on a lost engine at preview change (its triggers,
# cluster.ts), i.e. when the node or its host is back.
# env: PRIMARY_CONTAINER IMAGE STACK_LABELS [PEERS]

root=/var/lib/postgresql/data
# The primary's leftovers are removed last (below), so while any node's are left, so are its.
kept=$(dk "$PRIMARY_CONTAINER" exec "$PRIMARY_CONTAINER" sh -c "ls -d $root/pgdata.*-old $root/upgrade-keep 2>/dev/null || true")
if [ -z "$kept" ]; then
    log "no major upgrade to finish"
    exit 0
fi
# Every node's copy goes at once, so every node must be there: one stopped (an upgrade given up,
# its primary fenced until its seed clones it again) leaves the finish to the up after it.
nodes=$(node_containers) || { log "a major upgrade to finish, but not every node's engine answers: the next up finishes it"; exit 0; }
for container in $nodes; do
    # In a subshell: a node whose engine does not say whether it runs leaves the finish to the next up too, said.
    why=$(running "$container" 2>&1) ||
        { why=${why#error: }; log "a major upgrade to finish, but ${why:-$container is not running}: the next up finishes it"; exit 0; }
done
started=$(date +%s)
# Not bounded: PRIMARY_CONTAINER is the declared primary, on this command's own engine, and the
# statistics take as long as the data does. Every database's name reaches libpq as itself: vacuumdb
# --all connects to each with "dbname=" and the name quoted (src/bin/scripts/vacuumdb.c,
# vacuum_all_databases, appendConnStrVal), so one holding "=" or a URI prefix is not a connection string.
dk "$PRIMARY_CONTAINER" exec -u postgres "$PRIMARY_CONTAINER" vacuumdb --all --analyze-in-stages --quiet >/dev/null
analyzed=$(( $(date +%s) - started ))
# The other nodes may be on other engines: each removal bounded (node_within), but not by
# NODE_ASK_SECONDS: a whole cluster's copy on a large volume takes minutes to delete. Past
# NODE_REMOVE_SECONDS (10 min) it is said so; the removal may go on in the container (ending the
# CLI does not end what it started there).
# The primary's last: a removal that fails stops here (and the up), and the primary's leftovers
# make the next run of this step (the failed up's) do it again; removed first, they would say
# "no major upgrade to finish" over a standby's copy left for good.
remove_seconds=${NODE_REMOVE_SECONDS:-600}
for container in $(printf '%s\n' $nodes | grep -vxF "$PRIMARY_CONTAINER") $PRIMARY_CONTAINER; do
    removed=0
    node_within "$remove_seconds" dk "$container" exec -u postgres "$container" sh -c "rm -rf $root/pgdata.*-old $root/upgrade-keep" || removed=$?
    [ "$removed" -ne 124 ] ||
        fail "the old cluster's copy on $container: $(no_answer "$container" "$remove_seconds") to its removal (it may go on there); run up again"
    [ "$removed" -eq 0 ] || fail "the old cluster's copy on $container could not be removed"
done
log "major upgrade finished: statistics rebuilt on $PRIMARY_CONTAINER in ${analyzed}s (vacuumdb --analyze-in-stages); the old cluster's copies removed"
