#!/bin/sh
# Start (bootstrap, start) or restart one etcd member, then wait until it answers healthy,
# which takes a quorum. If it does not within TIMEOUT seconds: a bootstrap leaves no
# half-made member behind, and a change puts back the files it replaced (BACKUPS: space
# separated "file=backup" pairs) and starts the member with them. Either way it fails with
# what etcd's journal said.
set -u
action=$1
boot=/run/dockhand-etcd-bootstrap.env
since=$(date '+%Y-%m-%d %H:%M:%S')

# A restart's old process may still answer until systemd has stopped it: after a restart
# only the unit's next invocation counts (a start may join a start job already under way,
# which keeps its invocation). Polled every 0.2 s: each member's wait holds up the next one.
healthy() {
  deadline=$(( $(date +%s) + TIMEOUT ))
  until { [ "$action" != restart ] \
          || [ "$(systemctl show -p InvocationID --value etcd.service)" != "$before" ]; } \
      && dockhand-etcdctl --command-timeout=3s endpoint health >/dev/null 2>&1; do
    [ "$(date +%s)" -ge "$deadline" ] && return 1
    sleep 0.2
  done
}

# A restart while another member is down would leave the cluster without its quorum. This
# member itself may be the one down: restarting it costs nothing and may bring it back.
if [ "$action" = restart ]; then
  self=$(sed -n 's/^ETCD_ADVERTISE_CLIENT_URLS=//p' "$ENV_FILE")
  down=$(dockhand-etcdctl --command-timeout=3s endpoint health --cluster 2>&1 \
    | sed -n 's/ is unhealthy.*//p' | grep -vxF "$self" | tr '\n' ' ')
  if [ -n "$down" ]; then
    echo "etcd was not restarted: the member(s) ${down}do not answer healthy, and with this one down too the cluster would lose its quorum. Bring them back first, then run again." >&2
    exit 1
  fi
fi

systemctl daemon-reload
systemctl reset-failed etcd.service 2>/dev/null
before=$(systemctl show -p InvocationID --value etcd.service)
case $action in
  bootstrap)
    printf 'ETCD_INITIAL_CLUSTER_STATE=new\n' > "$boot"
    systemctl start --no-block etcd.service ;;
  start) systemctl start --no-block etcd.service ;;
  restart) systemctl restart --no-block etcd.service ;;
  *) echo "unknown action $action" >&2; exit 2 ;;
esac
if healthy; then
  rm -f "$boot"
  exit 0
fi

reason=$(journalctl -u etcd.service --since "$since" -o cat --no-pager 2>/dev/null \
  | grep -iE 'error|fatal|panic|refus|mismatch' | tail -n 4 | tr '\n' ' ')
rm -f "$boot"
restored=""
for pair in ${BACKUPS:-}; do
  cp -p "${pair#*=}" "${pair%%=*}" && restored="$restored ${pair%%=*}"
done
if [ "$action" = bootstrap ]; then
  systemctl stop etcd.service
  rm -rf "$DATA/member"
  echo "etcd did not form the new cluster within ${TIMEOUT}s (every member must start at once; this one is stopped and left empty for the next run). etcd said: ${reason:-nothing}" >&2
elif [ -n "$restored" ]; then
  systemctl daemon-reload
  before=$(systemctl show -p InvocationID --value etcd.service)
  systemctl restart --no-block etcd.service
  if healthy; then state="it answers again with them"; else state="it does not answer with them either"; fi
  echo "etcd did not answer within ${TIMEOUT}s after the change; put back${restored} and restarted it: ${state}. etcd said: ${reason:-nothing}" >&2
else
  echo "etcd did not answer within ${TIMEOUT}s after its ${action}. etcd said: ${reason:-nothing}" >&2
fi
exit 1
