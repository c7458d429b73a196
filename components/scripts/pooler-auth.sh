# What the endpoint's PgBouncer asks for a client's password: a SECURITY DEFINER function that
# returns one login role's SCRAM secret, executable only by the pooler's own role (PgBouncer runs
# auth_query in the database the client asked for, so it is put in every database that takes
# connections, template1 included: databases made later from it have it too). Run on the
# declared primary; the standbys get it by replication.
# env: PRIMARY_CONTAINER PRIMARY_CONTAINER_ID AUTH_USER

in_each_database "put the pooler's password lookup (pgbouncer.get_auth)" <<SQL
CREATE SCHEMA IF NOT EXISTS pgbouncer;
CREATE OR REPLACE FUNCTION pgbouncer.get_auth(p_usename text) RETURNS TABLE (username text, password text)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog AS
\$\$ SELECT rolname::text, rolpassword FROM pg_authid
    WHERE rolname = p_usename AND rolcanlogin AND (rolvaliduntil IS NULL OR rolvaliduntil > now()) \$\$;
REVOKE ALL ON FUNCTION pgbouncer.get_auth(text) FROM PUBLIC;
GRANT USAGE ON SCHEMA pgbouncer TO "$AUTH_USER";
GRANT EXECUTE ON FUNCTION pgbouncer.get_auth(text) TO "$AUTH_USER";
SQL
log "pooler's password lookup (pgbouncer.get_auth) in: $(printf '%s\n' "$DATABASES" | paste -s -d ' ' -)"
