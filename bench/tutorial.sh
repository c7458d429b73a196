#!/usr/bin/env bash
# The tutorial's own steps (shared/seeds: master and slave by hand with the docker CLI), scripted
# as faithfully as a script can: the benchmark's yardstick. Where a person waits and looks, the
# script polls (pg_isready over TCP, pg_stat_replication); where the tutorial uses host folders
# (/data/psql/{master,slave,repl}) it uses volumes; ports go to 127.0.0.1 and to the given ones.
#
#   bench/tutorial.sh up   PREFIX SUBNET_PREFIX PORT   # e.g. bench-tut 172.31.60 56600
#   bench/tutorial.sh down PREFIX
# up returns once the slave streams; everything carries the label pg-replication.stack=PREFIX.
set -euo pipefail
action=$1 prefix=$2
label=(--label "pg-replication.stack=$prefix")

ready() { # a real server on TCP, not the image's socket-only init server
    until docker exec "$1" pg_isready -q -h 127.0.0.1 -U postgres 2>/dev/null; do sleep 0.2; done
}

case $action in
up)
    net=$3 port=$4
    # 1. the network
    docker network create "${label[@]}" --subnet="$net.0/24" "$prefix-net" >/dev/null
    # 3. the data folders
    for v in master slave repl; do docker volume create "${label[@]}" "$prefix-$v" >/dev/null; done
    # 4. the master
    docker run -d "${label[@]}" --network "$prefix-net" --ip "$net.101" -p "127.0.0.1:$port:5432" \
        --name "$prefix-master" -h master -e POSTGRES_DB=postgres -e POSTGRES_USER=postgres \
        -e POSTGRES_PASSWORD=postgres -v "$prefix-master:/var/lib/postgresql/data" postgres:13 >/dev/null
    ready "$prefix-master"
    # 5. the replication role
    docker exec -u postgres "$prefix-master" psql -q -c \
        "CREATE ROLE repuser WITH LOGIN REPLICATION CONNECTION LIMIT 5 PASSWORD '123456'"
    # 6. pg_hba.conf and postgresql.conf, as the tutorial edits them
    docker exec -u postgres "$prefix-master" sh -c '
        echo "host replication repuser '"$net"'.102/24 md5" >> "$PGDATA/pg_hba.conf"
        cat >> "$PGDATA/postgresql.conf" <<EOF
archive_mode = on
archive_command = '"'/bin/date'"'
max_wal_senders = 10
wal_keep_size = 16
synchronous_standby_names = '"'*'"'
EOF'
    # 7. restart the master
    # pg_ctl stops PID 1, so the container stops under the exec (which then reports an error).
    docker exec -u postgres "$prefix-master" pg_ctl stop -s || true
    docker wait "$prefix-master" >/dev/null
    docker start "$prefix-master" >/dev/null
    ready "$prefix-master"
    # 8. a slave container, with the repl folder beside its data
    docker run -d "${label[@]}" --network "$prefix-net" --ip "$net.102" -p "127.0.0.1:$((port + 1)):5432" \
        --name "$prefix-slave" -h slave -e POSTGRES_DB=postgres -e POSTGRES_USER=postgres \
        -e POSTGRES_PASSWORD=postgres -v "$prefix-slave:/var/lib/postgresql/data" \
        -v "$prefix-repl:/var/lib/postgresql/repl" postgres:13 >/dev/null
    ready "$prefix-slave"
    docker exec "$prefix-slave" chown 999:999 /var/lib/postgresql/repl   # step 3's chown of the repl folder
    # 9. pg_basebackup into repl (the tutorial types the password at the prompt)
    docker exec -u postgres -e PGPASSWORD=123456 "$prefix-slave" pg_basebackup -R \
        -D /var/lib/postgresql/repl -Fp -Xs -h "$net.101" -p 5432 -U repuser
    # 10. the slave again, on the copy (repl renamed to slave)
    docker rm -f -v "$prefix-slave" >/dev/null
    docker run -d "${label[@]}" --network "$prefix-net" --ip "$net.102" -p "127.0.0.1:$((port + 1)):5432" \
        --name "$prefix-slave" -h slave -e POSTGRES_DB=postgres -e POSTGRES_USER=postgres \
        -e POSTGRES_PASSWORD=postgres -v "$prefix-repl:/var/lib/postgresql/data" postgres:13 >/dev/null
    # 11. streaming, as pg_stat_replication on the master shows it
    until [ "$(docker exec -u postgres "$prefix-master" psql -Atqc \
        "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'" 2>/dev/null)" = 1 ]; do
        sleep 0.2
    done
    ;;
down)
    ids=$(docker ps -aq --filter "label=pg-replication.stack=$prefix")
    [ -z "$ids" ] || docker rm -f -v $ids >/dev/null
    vols=$(docker volume ls -q --filter "label=pg-replication.stack=$prefix")
    [ -z "$vols" ] || docker volume rm $vols >/dev/null
    nets=$(docker network ls -q --filter "label=pg-replication.stack=$prefix")
    [ -z "$nets" ] || docker network rm $nets >/dev/null
    ;;
*) echo "usage: $0 up PREFIX SUBNET_PREFIX PORT | down PREFIX" >&2; exit 2 ;;
esac
