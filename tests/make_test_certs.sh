#!/usr/bin/env bash
# Makes a throwaway CA and two certificates it signed, valid for 127.0.0.1 and localhost for two
# days, for the TLS tests: DIR/ca.pem, DIR/server.{pem,key}, DIR/client.{pem,key}.
# Usage: make_test_certs.sh DIR
set -euo pipefail
dir=${1:?usage: make_test_certs.sh DIR}
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$dir/ca.key" -subj "/CN=perennial test CA" \
  -days 2 -out "$dir/ca.pem" 2>/dev/null
for name in server client; do
  openssl req -newkey rsa:2048 -nodes -keyout "$dir/$name.key" -subj "/CN=$name" \
    -out "$dir/$name.csr" 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' > "$dir/$name.ext"
  openssl x509 -req -in "$dir/$name.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" \
    -CAcreateserial -days 2 -extfile "$dir/$name.ext" -out "$dir/$name.pem" 2>/dev/null
done
