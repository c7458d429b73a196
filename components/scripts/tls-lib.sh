# Shared by tls-ca.sh and tls-node.sh; runs inside a throwaway container of the stack's image
# (its openssl), in a tmpfs, so keys never reach a disk or a command line.
set -eu
umask 077
cd /tls

# One openssl config for both kinds of certificate, so nothing depends on the image's own
# openssl.cnf (1.1.1 in bullseye, 3.x in trixie differ in their defaults).
cat >openssl.cnf <<CNF
[req]
distinguished_name = dn
prompt = no
[dn]
CN = \$ENV::CN
[ca_ext]
basicConstraints = critical,CA:TRUE,pathlen:0
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[node_ext]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = \$ENV::SAN
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
CNF

# Runs a command quietly (openssl chats on stderr), showing its stderr only when it fails.
quiet() {
    "$@" 2>/tls/stderr || { status=$?; cat /tls/stderr >&2; exit "$status"; }
}

new_key() {
    quiet openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1"
}

# A PEM file as a JSON string: PEM holds only base64, dashes, spaces and letters, so escaping
# the line ends is all JSON needs.
json_pem() {
    awk -v ORS= '{ printf "%s\\n", $0 }' "$1"
}
