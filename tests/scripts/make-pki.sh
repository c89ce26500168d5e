#!/usr/bin/env bash
# tests/scripts/make-pki.sh: a throwaway PKI for the TLS tests, made with the openssl CLI the way
# docs/security.md tells a DBA: a root CA, an intermediate that signs the nodes, and a foreign CA.
# Usage: make-pki.sh DIR NAME... (run again with other names to add nodes). Writes into DIR:
#   ca.pem (the root: what socket.ssl_ca names), NAME.pem (leaf then intermediate: socket.ssl_cert),
#   NAME.key (socket.ssl_key); other-ca.pem, intruder.pem and intruder.key (another CA's node);
#   ca2.pem and ca-bundle.pem (a second root, and both roots in one file, for rotations); a NAME
#   of the form NAME@ca2 is signed by the second root.
set -eu
D=$1
shift
mkdir -p "$D"
cd "$D"
umask 077
new_key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
# root NAME CN: a self-signed CA
root() {
    [ -f "$1.pem" ] && return 0
    new_key "$1.key"
    openssl req -x509 -new -key "$1.key" -out "$1.pem" -days 3650 -subj "/O=trireme test/CN=$2" \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
}
# sign OUT CN CA_CERT CA_KEY EXTFILE DAYS
sign() {
    new_key "$1.key"
    openssl req -new -key "$1.key" -out "$1.csr" -subj "/O=trireme test/CN=$2" 2>/dev/null
    openssl x509 -req -in "$1.csr" -CA "$3" -CAkey "$4" -CAcreateserial -days "$6" -extfile "$5" \
        -out "$1.crt" 2>/dev/null
    rm -f "$1.csr"
}
cat >ca.ext <<'EOF'
basicConstraints=critical,CA:TRUE
keyUsage=critical,keyCertSign,cRLSign
EOF
cat >node.ext <<'EOF'
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth,clientAuth
EOF
root ca "Test Cluster Root"
root ca2 "Test Cluster Root 2"
root other-ca "Some Other Root"
cat ca.pem ca2.pem >ca-bundle.pem
if [ ! -f inter.pem ]; then
    sign inter "Test Cluster Intermediate" ca.pem ca.key ca.ext 3650
    mv inter.crt inter.pem
fi
if [ ! -f intruder.pem ]; then
    sign intruder intruder other-ca.pem other-ca.key node.ext 365
    mv intruder.crt intruder.pem
fi
for n in "$@"; do
    case $n in
    *@ca2) # signed by the second root directly
        n=${n%@ca2}
        sign "$n" "$n" ca2.pem ca2.key node.ext 365
        mv "$n.crt" "$n.pem" ;;
    *)
        sign "$n" "$n" inter.pem inter.key node.ext 365
        cat "$n.crt" inter.pem >"$n.pem" # the chain: leaf first, then the intermediate
        rm -f "$n.crt" ;;
    esac
done
chmod 644 ./*.pem
