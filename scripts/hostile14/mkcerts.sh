#!/bin/bash
# CA1 (the cluster's), CA2 (a wrong one); server/client/peer certs for 127.0.0.1
set -e
D=${1:-/tmp/h14/certs}; mkdir -p $D; cd $D
ca() { openssl req -x509 -newkey rsa:2048 -nodes -keyout $1.key -out $1.pem -days 30 -subj "/CN=$1" 2>/dev/null; }
leaf() { # name ca
  openssl req -newkey rsa:2048 -nodes -keyout $1.key -out $1.csr -subj "/CN=$1" 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n' > $1.ext
  openssl x509 -req -in $1.csr -CA $2.pem -CAkey $2.key -CAcreateserial -out $1.pem -days 30 -extfile $1.ext 2>/dev/null
}
ca ca1; ca ca2
leaf server ca1; leaf server2 ca1; leaf client ca1; leaf badclient ca2
for i in 1 2 3 4; do leaf peer$i ca1; done
leaf roguepeer ca2
ls
