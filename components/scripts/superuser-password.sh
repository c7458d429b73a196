# Sets the postgres superuser's password to the configured one (ALTER ROLE, on stdin, through
# peer auth on the socket), so the postgresql provider only ever connects with a password the
# server already has: rotating it is a config change and an `up`, in either order with ALTER ROLE.
# The server hashes it as SCRAM (password_encryption on the command line).
# env: PRIMARY_CONTAINER; stdin: the ALTER ROLE statement

primary_sql >/dev/null
log "superuser password set on $PRIMARY_CONTAINER"
