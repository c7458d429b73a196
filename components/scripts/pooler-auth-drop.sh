# Endpoints turned off: the password lookup pooler-auth.sh put in every database that takes
# connections goes again, with the pooler role's privileges on it. The postgresql provider deletes
# the role next, and its REASSIGN OWNED and DROP OWNED act in its own database only: a grant left in
# any other (template1 always) fails DROP ROLE ("some objects depend on it"). Run on the declared
# primary, as the provider is; not at destroy (the role and the lookup go with the cluster).
# env: PRIMARY_CONTAINER AUTH_USER

databases=$(primary_sql "SELECT datname FROM pg_database WHERE datallowconn ORDER BY datname") ||
    fail "could not list the databases on $PRIMARY_CONTAINER to remove the pooler's password lookup from"
for db in $databases; do
    dk "$PRIMARY_CONTAINER" exec -i -u postgres "$PRIMARY_CONTAINER" psql -X -q -A -t -v ON_ERROR_STOP=1 -d "$db" >/dev/null <<SQL ||
DROP SCHEMA IF EXISTS pgbouncer CASCADE;
SQL
        fail "could not remove the pooler's password lookup (schema pgbouncer) from database $db on $PRIMARY_CONTAINER"
done
log "pooler's password lookup (pgbouncer.get_auth) removed from: $(echo $databases); its role $AUTH_USER goes next"
