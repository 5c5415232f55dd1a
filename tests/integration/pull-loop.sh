#!/bin/sh
# pull-loop.sh IMAGE DIR: pull IMAGE until DIR/stop exists, one line per pull in DIR/ok or
# DIR/fail (with the error). Runs inside a lab host while a test rotates certificates.
img=$1
dir=$2
rm -rf "$dir"
mkdir -p "$dir"
: > "$dir/ok"
: > "$dir/fail"
while [ ! -e "$dir/stop" ]; do
  if docker pull -q "$img" > /dev/null 2> "$dir/last-err"; then
    echo . >> "$dir/ok"
  else
    echo "$(date +%T) $(cat "$dir/last-err")" >> "$dir/fail"
  fi
done
touch "$dir/done"
