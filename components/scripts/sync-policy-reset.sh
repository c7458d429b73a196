# Back to asynchronous commits before standbys go away, so no write waits for a standby that
# is being removed.
# env: PRIMARY_CONTAINER

if running "$PRIMARY_CONTAINER"; then
    primary_sql <<SQL
ALTER SYSTEM RESET synchronous_standby_names;
ALTER SYSTEM RESET synchronous_commit;
SELECT pg_reload_conf();
SQL
fi
