"""haproxy_reload.py SOCKET STATE_FILE (run as `python3 -c`): save the servers' states from
the running HAProxy's runtime socket where the configuration's server-state-file reads
them, then reload. Without them the new process would count every member up until its
checks say otherwise, and send clients to replicas meanwhile. A process that has no socket
yet (its configuration predates it) reloads without them, as before."""

import os
import socket
import subprocess
import sys

sock_path, state_path = sys.argv[1], sys.argv[2]
state = b""
try:
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(5)
        sock.connect(sock_path)
        sock.sendall(b"show servers state\n")
        while chunk := sock.recv(65536):
            state += chunk
except OSError as exc:
    print(f"no servers' states to keep ({sock_path}: {exc})", file=sys.stderr)
tmp = f"{state_path}.tmp"
with open(tmp, "wb") as handle:
    handle.write(state)
os.replace(tmp, state_path)
sys.exit(subprocess.run(["systemctl", "reload", "haproxy.service"], check=False).returncode)
