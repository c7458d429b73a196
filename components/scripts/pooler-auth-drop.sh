# Endpoints turned off: the password lookup pooler-auth.sh put in every database that takes
# connections goes again, with the pooler role's privileges on it. The postgresql provider deletes
# the role next, and its REASSIGN OWNED and DROP OWNED act in its own database only: a grant left in
# any other (template1 always) fails DROP ROLE ("some objects depend on it"). Only what pooler-auth.sh
# made goes: the function, the role's privileges on the schema, and the schema when nothing else is
# in it. Run on the declared primary, as the provider is (the container this command's state names:
# a primary changed in the same up has not been made primary yet, so that is refused, loudly); not at
# destroy (the role and the lookup go with the cluster).
# env: PRIMARY_CONTAINER AUTH_USER

recovery=$(primary_sql "SELECT pg_is_in_recovery()") ||
    fail "could not ask $PRIMARY_CONTAINER whether it is the primary, to remove the pooler's password lookup: $recovery"
[ "$recovery" = f ] ||
    fail "$PRIMARY_CONTAINER is not the primary, so the pooler's password lookup cannot be removed there: turn the endpoints off and change the primary in two ups"
in_each_database "remove the pooler's password lookup (pgbouncer.get_auth)" <<SQL
DO \$\$
BEGIN
    IF to_regnamespace('pgbouncer') IS NOT NULL THEN
        DROP FUNCTION IF EXISTS pgbouncer.get_auth(text);
        IF to_regrole('$AUTH_USER') IS NOT NULL THEN
            REVOKE ALL ON SCHEMA pgbouncer FROM "$AUTH_USER";
        END IF;
        BEGIN
            DROP SCHEMA pgbouncer;
        EXCEPTION WHEN dependent_objects_still_exist THEN
            RAISE NOTICE 'schema pgbouncer kept: it holds objects of its own';
        END;
    END IF;
END
\$\$;
SQL
log "pooler's password lookup (pgbouncer.get_auth) removed from: $(printf '%s\n' "$DATABASES" | paste -s -d ' ' -); its role $AUTH_USER goes next"
