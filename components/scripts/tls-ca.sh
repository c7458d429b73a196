# The stack's certificate authority: a P-256 key and a self-signed CA certificate valid DAYS days,
# subject CN. Prints {"caCert": PEM, "caKey": PEM}.
# openssl resolves every $ENV:: reference of its config when it loads it, used or not.
export SAN=DNS:unused
new_key ca.key
quiet openssl req -x509 -new -config openssl.cnf -extensions ca_ext -key ca.key -days "$DAYS" -sha256 -out ca.crt
printf "{\"caCert\":\"%s\",\"caKey\":\"%s\"}\n" "$(json_pem ca.crt)" "$(json_pem ca.key)"
