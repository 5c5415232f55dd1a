#!/bin/sh
# blob-trip.sh push|pull REGISTRY REPOSITORY SIZE KEY: one layer blob of SIZE bytes through
# the registry's API at https://REGISTRY (the password on stdin, user dockhand), sent as
# docker push sends a layer and fetched as docker pull fetches one: HTTP/1.1, the upload one
# PATCH whose body streams in chunks of unknown total, then a PUT with its digest. The blob
# is AES-CTR of zeros keyed by KEY: random to gzip, the same on both hosts, never on disk.
# pull checks that the bytes that come back have the blob's digest.
set -eu
mode=$1 registry=$2 repo=$3 size=$4 key=$5
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
chmod 700 "$dir"
printf 'machine %s login dockhand password %s\n' "$registry" "$(cat)" > "$dir/netrc"
blob() { head -c "$size" /dev/zero | openssl enc -aes-128-ctr -pbkdf2 -nosalt -pass "pass:$key"; }
digest=sha256:$(blob | sha256sum | cut -d' ' -f1)
api() {
  curl --fail --silent --show-error --http1.1 --netrc-file "$dir/netrc" \
    --cacert "/etc/docker/certs.d/$registry/ca.crt" --max-time 900 "$@"
}
location() { tr -d '\r' | awk 'tolower($1) == "location:" { print $2 }'; }
if [ "$mode" = push ]; then
  upload=$(api -X POST -D - -o /dev/null "https://$registry/v2/$repo/blobs/uploads/" | location)
  upload=$(blob | api -X PATCH -H 'Content-Type: application/octet-stream' -T - -D - \
    -o /dev/null "$upload" | location)
  api -X PUT -o /dev/null "$upload&digest=$digest"
else
  got=sha256:$(api -L "https://$registry/v2/$repo/blobs/$digest" | sha256sum | cut -d' ' -f1)
  [ "$got" = "$digest" ] || { echo "pulled $got, pushed $digest" >&2; exit 1; }
fi
echo "$digest"
