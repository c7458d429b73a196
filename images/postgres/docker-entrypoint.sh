#!/usr/bin/env bash
# Entrypoint of the local postgres:<major> images. Our own implementation of the official
# image's documented interface: POSTGRES_PASSWORD / _USER / _DB (and their *_FILE forms),
# POSTGRES_INITDB_ARGS, POSTGRES_INITDB_WALDIR, POSTGRES_HOST_AUTH_METHOD, PGDATA, and
# /docker-entrypoint-initdb.d scripts that run once, when the data directory is empty.
set -Eeuo pipefail

me=docker-entrypoint.sh
say() { echo "$me: $*"; }
die() { echo "$me: error: $*" >&2; exit 1; }

# VAR or VAR_FILE (a secret mounted as a file), never both; exports VAR.
from_env_or_file() {
  local var=$1 fallback=${2:-} file_var="${1}_FILE" value
  if [[ -n ${!var:-} && -n ${!file_var:-} ]]; then
    die "both $var and $file_var are set; use one"
  fi
  if [[ -n ${!file_var:-} ]]; then
    [[ -r ${!file_var} ]] || die "$file_var=${!file_var} is not a readable file"
    value=$(<"${!file_var}")
  else
    value=${!var:-$fallback}
  fi
  export "$var=$value"
  unset "$file_var"
}

# `docker run IMAGE -c x=y` means `postgres -c x=y`.
if [[ ${1:-} == -* ]]; then
  set -- postgres "$@"
fi

# Anything else (bash, psql, pg_dump ...) runs as given.
if [[ ${1:-} != postgres ]]; then
  exec "$@"
fi

# As root: prepare directories (a fresh volume may be root-owned, PGDATA may be a
# subdirectory of it), then run this script again as postgres. The exec chain keeps
# PID 1, so postgres itself ends up as PID 1 and receives docker's signals.
if [[ $(id -u) -eq 0 ]]; then
  mkdir -p "$PGDATA" /var/run/postgresql
  chmod 0700 "$PGDATA"
  chmod 3777 /var/run/postgresql
  find "$PGDATA" /var/run/postgresql \! -user postgres -exec chown postgres:postgres {} +
  if [[ -n ${POSTGRES_INITDB_WALDIR:-} ]]; then
    mkdir -p "$POSTGRES_INITDB_WALDIR"
    find "$POSTGRES_INITDB_WALDIR" \! -user postgres -exec chown postgres:postgres {} +
  fi
  exec gosu postgres "${BASH_SOURCE[0]}" "$@"
fi

# Not root from here on (postgres refuses to run as root). Another uid may lack the
# rights to create or chmod; initdb then reports the actual problem.
mkdir -p "$PGDATA" 2>/dev/null || true
chmod 0700 "$PGDATA" 2>/dev/null || true

init_database() {
  from_env_or_file POSTGRES_PASSWORD
  from_env_or_file POSTGRES_USER postgres
  from_env_or_file POSTGRES_DB "$POSTGRES_USER"

  if [[ -z $POSTGRES_PASSWORD && ${POSTGRES_HOST_AUTH_METHOD:-} != trust ]]; then
    cat >&2 <<-'MSG'
	docker-entrypoint.sh: error: the database is not initialized and no superuser password is set.
	  Set POSTGRES_PASSWORD (or POSTGRES_PASSWORD_FILE) to a non-empty value, or, to allow
	  every connection without a password (never do this outside a throwaway test),
	  set POSTGRES_HOST_AUTH_METHOD=trust.
	MSG
    exit 1
  fi

  say "initializing $PGDATA"
  local initdb_opts=(--username="$POSTGRES_USER")
  [[ -n ${POSTGRES_INITDB_WALDIR:-} ]] && initdb_opts+=(--waldir="$POSTGRES_INITDB_WALDIR")
  # Password through a process-substitution file, so it never shows in `ps`.
  # POSTGRES_INITDB_ARGS is a string of options and is word-split like a shell would.
  if [[ -n $POSTGRES_PASSWORD ]]; then
    eval 'initdb "${initdb_opts[@]}" --pwfile=<(printf "%s\n" "$POSTGRES_PASSWORD") '"${POSTGRES_INITDB_ARGS:-}"
  else
    eval 'initdb "${initdb_opts[@]}" '"${POSTGRES_INITDB_ARGS:-}"
  fi

  # Remote connections need the password. Default: scram-sha-256, but md5 when the server
  # stores md5 hashes (password_encryption defaults to md5 before PostgreSQL 14), as the
  # official image documents; otherwise the stored hash could never satisfy scram.
  local method=${POSTGRES_HOST_AUTH_METHOD:-}
  if [[ -z $method ]]; then
    case $(postgres -C password_encryption "${@:2}") in
      md5|on) method=md5 ;;   # "on" is PostgreSQL 13's alias for md5
      *) method=scram-sha-256 ;;
    esac
  fi
  [[ $method == trust ]] && say "warning: POSTGRES_HOST_AUTH_METHOD=trust: any client connects without a password"
  printf '\n# added by %s\nhost all all all %s\n' "$me" "$method" >>"$PGDATA/pg_hba.conf"

  # Temporary server for the init steps: unix socket only, so nothing outside the
  # container sees a half-initialized database. It gets the same arguments as the real
  # server, so settings like password_encryption already apply.
  say "starting temporary server for initialization"
  local server_opts
  printf -v server_opts '%q ' "${@:2}" -c listen_addresses= -p "${PGPORT:-5432}"
  PGUSER=$POSTGRES_USER pg_ctl --pgdata="$PGDATA" --wait --silent -o "$server_opts" start

  export PGPASSWORD=${PGPASSWORD:-$POSTGRES_PASSWORD}
  local psql=(psql -v ON_ERROR_STOP=1 --no-psqlrc --no-password --username "$POSTGRES_USER")

  if [[ $POSTGRES_DB != postgres ]]; then
    "${psql[@]}" --dbname postgres --set db="$POSTGRES_DB" <<<'CREATE DATABASE :"db";'
  fi

  local f
  for f in /docker-entrypoint-initdb.d/*; do
    [[ -e $f ]] || continue
    case $f in
      *.sh)
        if [[ -x $f ]]; then say "running $f"; "$f"
        else say "sourcing $f"; # shellcheck disable=SC1090
          . "$f"
        fi ;;
      *.sql) say "running $f"; "${psql[@]}" --dbname "$POSTGRES_DB" -f "$f" ;;
      *.sql.gz) say "running $f"; gzip -dc "$f" | "${psql[@]}" --dbname "$POSTGRES_DB" ;;
      *.sql.xz) say "running $f"; xz -dc "$f" | "${psql[@]}" --dbname "$POSTGRES_DB" ;;
      *) say "ignoring $f (not .sh, .sql, .sql.gz or .sql.xz)" ;;
    esac
  done

  unset PGPASSWORD
  pg_ctl --pgdata="$PGDATA" --wait --silent -m fast stop
  say "initialization complete"
}

if [[ -s $PGDATA/PG_VERSION ]]; then
  say "$PGDATA holds a database; skipping initialization"
else
  init_database "$@"
fi

exec "$@"
