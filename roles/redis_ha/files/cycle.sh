# cycle.sh ACTION UNIT PORT TIMEOUT [OTHER ...] (run as `sh -c`): start or restart a Redis or
# Sentinel unit, then wait until it answers PING over TLS; a Redis replica also until its
# link to the primary is up. The password comes on standard input.
# A restart first asks the group's other members (their addresses, OTHER, on the same PORT):
# the role restarts the members one after the other in a loop, which goes on after an item
# fails, so with one of them down this one stays up and the script fails naming it.
set -u
action=$1 unit=$2 port=$3 timeout=$4
shift 4
IFS= read -r REDISCLI_AUTH && export REDISCLI_AUTH
ca=/etc/dockhand/redis/tls/ca.crt
cli() { redis-cli --tls --cacert "$ca" --no-auth-warning -h 127.0.0.1 -p "$port" "$@" 2>/dev/null; }
if [ "$action" = restart ]; then
  down=""
  for address in "$@"; do
    # Listening is enough: after an interrupted CA rotation a member that runs may serve a
    # certificate this host no longer trusts, and is restarted itself in turn.
    python3 -c 'import socket, sys; socket.create_connection((sys.argv[1], int(sys.argv[2])), 3).close()' \
      "$address" "$port" 2>/dev/null || down="$down$address:$port "
  done
  if [ -n "$down" ]; then
    echo "$unit was not restarted: ${down}do not listen, and with this one down too the group would be short of members. Bring them back first, then run again." >&2
    exit 1
  fi
fi
systemctl daemon-reload
systemctl reset-failed "$unit" 2>/dev/null
systemctl "$action" "$unit" || true
# Polled every 0.2 s: the group's next member is restarted only once this one is back.
deadline=$(( $(date +%s) + timeout ))
until [ "$(cli PING)" = PONG ]; do
  if [ "$(date +%s)" -ge "$deadline" ]; then
    echo "$unit did not answer on port $port within ${timeout}s after its $action:" \
      "$(journalctl -u "$unit" -n 5 -o cat --no-pager | tr '\n' ' ')" >&2
    exit 1
  fi
  sleep 0.2
done
if [ "$unit" = redis-server.service ]; then
  until cli INFO replication | grep -q -e '^role:master' -e '^master_link_status:up'; do
    if [ "$(date +%s)" -ge "$deadline" ]; then
      echo "$unit answers, but its link to the primary is not up within ${timeout}s" >&2
      exit 1
    fi
    sleep 0.2
  done
fi
