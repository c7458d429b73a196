# dbname_conninfo NAME: a libpq connection string naming the database NAME and nothing else, for
# psql's -d. A bare name is read by libpq as a connection string of its own when it holds "=" or
# starts with postgresql:// or postgres:// (fe-connect.c recognized_connection_string, which psql's
# -d goes through): a database named "a=b" then fails ("invalid connection option"), one named
# "postgresql://x" is taken for a host x, one named "dbname=postgres" reaches postgres. Quoted, with
# each backslash and single quote escaped by a backslash (libpq's rule for a quoted value), it is only
# ever that name. Shared by the host-side scripts and the in-container fragments (fragments.ts).
dbname_conninfo() { printf "dbname='%s'" "$(printf '%s' "$1" | sed "s/[\\\\']/\\\\&/g")"; }
