# Sets the postgres superuser's password to the configured one on the declared primary (ALTER
# ROLE, on stdin, through peer auth on the socket; it replicates to the standbys), so the
# postgresql provider only ever connects with a password the server already has: rotating it is
# a config change and an `up`, in either order with ALTER ROLE. The server hashes it as SCRAM.
# env: PRIMARY_CONTAINER PRIMARY_CONTAINER_ID; stdin: the ALTER ROLE statement

primary_sql >/dev/null
log "superuser password set on $PRIMARY_CONTAINER"
