# A node's server certificate: a new P-256 key, CN = the node's name, subjectAltName = SAN, valid
# DAYS days, signed by the CA read from stdin (its certificate and key, PEM, one after the other).
# Prints {"cert": PEM, "key": PEM}.
cat >ca.pem
new_key node.key
quiet openssl req -new -config openssl.cnf -key node.key -sha256 -out node.csr
quiet openssl x509 -req -in node.csr -CA ca.pem -CAkey ca.pem -set_serial "0x$(openssl rand -hex 16)" -days "$DAYS" -sha256 \
    -extfile openssl.cnf -extensions node_ext -out node.crt
printf "{\"cert\":\"%s\",\"key\":\"%s\"}\n" "$(json_pem node.crt)" "$(json_pem node.key)"
