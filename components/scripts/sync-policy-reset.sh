# Back to asynchronous commits before standbys go away, so no write waits for a standby that
# is being removed.
# env: PRIMARY_CONTAINER

if running "$PRIMARY_CONTAINER"; then
    primary_sql >/dev/null <<SQL
ALTER SYSTEM RESET synchronous_standby_names;
ALTER SYSTEM RESET synchronous_commit;
SELECT pg_reload_conf();
SQL
    log "commit policy on $PRIMARY_CONTAINER reset to asynchronous"
else
    log "$PRIMARY_CONTAINER is not running; no commit policy to reset"
fi
