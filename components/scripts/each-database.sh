# in_each_database WHAT: the SQL on stdin, run as postgres on the primary (PRIMARY_CONTAINER) in
# each database that takes connections, template1 included (databases made later from it get what
# was put there); DATABASES is set to their names, one a line. Fails, naming the database, when one
# refuses; WHAT completes "could not WHAT in database X" (pooler-auth.sh, pooler-auth-drop.sh).
in_each_database() {
    DATABASES=$(primary_sql "SELECT datname FROM pg_database WHERE datallowconn ORDER BY datname") ||
        fail "could not list the databases on $PRIMARY_CONTAINER to $1 in each"
    _sql=$(cat)
    # Each name taken whole: a name may hold blanks or glob characters, and is passed as itself, never
    # read as a connection string (dbname_conninfo).
    while IFS= read -r _db; do
        [ -n "$_db" ] || continue
        printf '%s\n' "$_sql" | dk "$PRIMARY_CONTAINER" exec -i -u postgres "$PRIMARY_CONTAINER" psql -X -q -A -t -v ON_ERROR_STOP=1 \
            -d "$(dbname_conninfo "$_db")" >/dev/null ||
            fail "could not $1 in database $_db on $PRIMARY_CONTAINER"
    done <<EOF
$DATABASES
EOF
}
