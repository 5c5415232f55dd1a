# cycle.sh ACTION UNIT PORT TIMEOUT (run as `sh -c`): start or restart a Redis or Sentinel
# unit, then wait until it answers PING over TLS; a Redis replica also until its link to
# the primary is up. The password comes on standard input.
set -u
action=$1 unit=$2 port=$3 timeout=$4
IFS= read -r REDISCLI_AUTH && export REDISCLI_AUTH
ca=/etc/dockhand/redis/tls/ca.crt
cli() { redis-cli --tls --cacert "$ca" --no-auth-warning -h 127.0.0.1 -p "$port" "$@" 2>/dev/null; }
systemctl daemon-reload
systemctl reset-failed "$unit" 2>/dev/null
systemctl "$action" "$unit" || true
deadline=$(( $(date +%s) + timeout ))
until [ "$(cli PING)" = PONG ]; do
  if [ "$(date +%s)" -ge "$deadline" ]; then
    echo "$unit did not answer on port $port within ${timeout}s after its $action:" \
      "$(journalctl -u "$unit" -n 5 -o cat --no-pager | tr '\n' ' ')" >&2
    exit 1
  fi
  sleep 1
done
if [ "$unit" = redis-server.service ]; then
  until cli INFO replication | grep -q -e '^role:master' -e '^master_link_status:up'; do
    if [ "$(date +%s)" -ge "$deadline" ]; then
      echo "$unit answers, but its link to the primary is not up within ${timeout}s" >&2
      exit 1
    fi
    sleep 1
  done
fi
