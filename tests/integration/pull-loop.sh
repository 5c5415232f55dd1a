#!/bin/sh
# pull-loop.sh IMAGE DIR [PAUSE]: pull IMAGE until DIR/stop exists, one line per pull in
# DIR/ok or DIR/fail (with the error), PAUSE seconds between pulls. Runs inside a lab host
# while a test rotates certificates.
img=$1
dir=$2
pause=${3:-0}
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
  sleep "$pause"
done
touch "$dir/done"
