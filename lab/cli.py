"""python -m lab up|down|status|ssh|rebuild: the dockhand lab of systemd containers."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from . import config as cfg
from . import inventory
from .config import Node, nodes
from .image import aliases, ensure_image, mirror
from .runner import LabError, docker, elapsed, exists, log, run
from .workloads import ensure_traefik_image, ensure_workloads


def parse_node(text: str) -> Node:
    try:
        return Node.parse(text)
    except ValueError as exc:
        raise LabError(str(exc)) from exc


def lab_nodes() -> dict[Node, dict[str, str]]:
    """Existing node containers -> {state, image (id), tag, hosts (the file mounted as its
    /etc/hosts, or '')}, in node order."""
    names = docker("ps", "-aq", "--filter", f"label={cfg.NODE_LABEL}",
                   "--filter", f"label={cfg.LABEL}").split()
    fmt = ("{{.Name}} {{.State.Status}} {{.Image}} {{.Config.Image}} "
           f'{{{{index .Config.Labels "{cfg.RELEASE_LABEL}"}}}} {{{{range .Mounts}}}}'
           '{{if eq .Destination "/etc/hosts"}}{{.Source}}{{end}}{{end}}')
    found = {}
    for line in docker("inspect", "-f", fmt, *names).splitlines() if names else []:
        name, state, image, tag, release, *hosts = line.split(maxsplit=5)
        # A node made before releases were labelled gets the default one.
        release = release if release in cfg.RELEASES else ""
        found[Node.parse(name.lstrip("/"))] = {"state": state, "image": image, "tag": tag,
                                               "release": release, "hosts": "".join(hosts)}
    return dict(sorted(found.items(), key=lambda item: item[0].index))


def remove_node(node: Node) -> None:
    docker("rm", "-f", "-v", node.container, check=False)
    docker("volume", "rm", "-f", *node.volumes, check=False)
    node.hosts_file.unlink(missing_ok=True)


# What the engine would write, made once: a lab host that stops and starts keeps what Ansible
# added (a registry's name), as a server does across a reboot.
HOSTS = """127.0.0.1\tlocalhost
::1\tlocalhost ip6-localhost ip6-loopback
fe00::0\tip6-localnet
ff00::0\tip6-mcastprefix
ff02::1\tip6-allnodes
ff02::2\tip6-allrouters
{ip}\t{name}
"""


# Each node's systemd, journald, logind, dbus and dockerd hold inotify instances and watches
# of the one kernel every node shares: Debian's default of 128 instances per user stops near
# 20 nodes, with "Failed to create inotify object: Too many open files" in the node's log.
INOTIFY_PER_NODE = {"max_user_instances": 32, "max_user_watches": 16384}


def ensure_inotify(count: int, proc: Path = Path("/proc/sys/fs/inotify")) -> None:
    for name, per_node in INOTIFY_PER_NODE.items():
        path = proc / name
        have = int(path.read_text())
        need = 128 + per_node * count
        if have >= need:
            continue
        try:
            path.write_text(str(need))
        except OSError as err:
            raise LabError(f"{count} nodes need fs.inotify.{name} >= {need} (it is {have}) and "
                           f"it cannot be raised here ({err}): run sysctl -w "
                           f"fs.inotify.{name}={need} as root") from err
        log(f"raised fs.inotify.{name} from {have} to {need} for {count} nodes")


def ensure_network() -> None:
    if not exists("network", cfg.NETWORK):
        opts = (f"--driver bridge --subnet {cfg.SUBNET} --gateway {cfg.GATEWAY} "
                f"--label {cfg.NETWORK_LABEL}")
        docker("network", "create", *opts.split(), cfg.NETWORK)
        log(f"network {cfg.NETWORK} {cfg.SUBNET} created")
    fmt = "{{range .IPAM.Config}}{{.Subnet}}{{end}}"
    subnet = docker("network", "inspect", "-f", fmt, cfg.NETWORK)
    if subnet != cfg.SUBNET:
        raise LabError(f"network {cfg.NETWORK} has subnet {subnet}, not {cfg.SUBNET}: run down")


def ensure_apt_cache() -> None:
    """The controller's apt cache on the lab's bridge and Docker's (molecule's instances),
    which the hosts fetch packages through when it answers, and from the mirror when not."""
    bridge = docker("network", "inspect", "-f", "{{range .IPAM.Config}}{{.Gateway}}{{end}}",
                    "bridge", check=False)
    addresses = [cfg.GATEWAY, *([bridge] if bridge else [])]
    cache = run(str(cfg.REPO / "scripts" / "ensure-apt-cache.sh"), mirror(), cfg.SUITE,
                *addresses, check=False, timeout=300)
    for line in (cache.stdout + cache.stderr).splitlines():
        log(line)


def ensure_key() -> str:
    cfg.STATE_DIR.mkdir(mode=0o700, exist_ok=True)
    if not cfg.SSH_KEY.exists():
        keygen = ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "dockhand-lab"]
        run(*keygen, "-f", str(cfg.SSH_KEY))
        log(f"ssh key {cfg.SSH_KEY} created")
    return cfg.SSH_KEY.with_suffix(".pub").read_text()


def ensure_node(node: Node, release: str, tag: str, image_id: str,
                current: dict[str, str] | None) -> str:
    """Create, start or recreate one node container; returns what it did."""
    action = "created"
    if current and current["release"] != release:
        log(f"{node.name} runs {current['release'] or 'an unlabelled image'}, asked to run "
            f"{release}: recreating it (fresh volumes)")
        remove_node(node)
        current, action = None, "recreated"
    if current and current["image"] != image_id:
        log(f"{node.name} runs the older image {current['tag']}: recreating it (fresh volumes)")
        remove_node(node)
        current, action = None, "recreated"
    # A stopped node made by a checkout since removed (a CI clone) cannot start: the file it
    # mounts as /etc/hosts went with that checkout.
    if current and current["state"] != "running" and current["hosts"] \
            and not Path(current["hosts"]).is_file():
        log(f"{node.name}'s /etc/hosts was {current['hosts']}, now gone: recreating it "
            "(fresh volumes)")
        remove_node(node)
        current, action = None, "recreated"
    if current is None:
        for volume in node.volumes:
            docker("volume", "create", "--label", cfg.LABEL, volume)
        mounts = [arg for vol, path in node.volumes.items() for arg in ("-v", f"{vol}:{path}")]
        node.hosts_file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        node.hosts_file.write_text(HOSTS.format(ip=node.ip, name=node.name))
        node.hosts_file.chmod(0o644)
        mounts += ["-v", f"{node.hosts_file}:/etc/hosts"]
        names = (f"--name {node.container} --hostname {node.name} --label {cfg.LABEL} "
                 f"--label {cfg.RELEASE_LABEL}={release}")
        net = f"--network {cfg.NETWORK} --ip {node.ip} --label {cfg.NODE_LABEL}={node.name}"
        # A lane of make test beside the lab suite gives its containers its own low weight.
        shares = os.environ.get("LANE_CONTAINER_CPU_SHARES")
        weight = ["--cpu-shares", shares] if shares else []
        docker("run", "-d", *names.split(), *net.split(), *cfg.RUN_FLAGS, *weight, *mounts, tag)
        return action
    if current["state"] != "running":
        docker("start", node.container)
        return "started"
    return "running"


def ssh_argv(node: Node, *command: str) -> list[str]:
    return ["ssh", "-i", str(cfg.SSH_KEY), *cfg.SSH_OPTS, f"root@{node.ip}", *command]


def ssh_ok(node: Node) -> bool:
    return run(*ssh_argv(node, "true"), check=False, timeout=15).returncode == 0


def inside(node: Node, *command: str) -> str:
    """Run a command in the node through `docker exec`; its stdout, or 'unknown'."""
    return docker("exec", node.container, *command, check=False, timeout=15) or "unknown"


def wait_ready(node: Node, pubkey: str) -> None:
    """Install the lab key, then wait for systemd and sshd in the node."""
    start = time.monotonic()
    # Appended, not overwritten: another checkout of the project may share this lab.
    script = ("umask 077; mkdir -p /root/.ssh; key=$(cat); f=/root/.ssh/authorized_keys; "
              'grep -qxF "$key" "$f" 2>/dev/null || echo "$key" >> "$f"')
    docker("exec", "-i", node.container, "sh", "-c", script, stdin=pubkey)
    state = ""
    while time.monotonic() - start < cfg.BOOT_TIMEOUT:
        if docker("inspect", "-f", "{{.State.Running}}", node.container) != "true":
            break
        if state not in ("running", "degraded"):
            state = inside(node, "systemctl", "is-system-running")
        elif ssh_ok(node):
            if state == "degraded":
                failed = inside(node, "systemctl", "--failed", "--no-legend", "--plain")
                units = [line.split()[0] for line in failed.splitlines() if line.strip()]
                log(f"{node.name} warning: systemd is degraded, failed units: {units}")
            log(f"{node.name} ssh ready ({elapsed(start)})")
            return
        time.sleep(0.5)
    logs = docker("logs", "--tail", "20", node.container, check=False)
    why = inside(node, "sh", "-c", "systemctl --failed; journalctl -b -n15 --no-pager -p warning")
    raise LabError(
        f"{node.name} not ready after {elapsed(start)}: systemd is {state!r}, "
        f"ssh root@{node.ip} fails\nfailed units, journal warnings:\n{why}\n"
        f"docker logs --tail 20 {node.container}:\n{logs}"
    )


def table(header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


def up(count: int, kept: dict[str, str] | None = None) -> int:
    """Bring the lab to `count` nodes; `kept` names the releases of nodes just removed that
    come back as they were (a rebuild), unless LAB_RELEASES says otherwise."""
    if not 1 <= count <= cfg.MAX_NODES:
        raise LabError(f"the lab has 1 to {cfg.MAX_NODES} nodes, not {count}")
    start = time.monotonic()
    try:
        asked = cfg.releases(count)
    except ValueError as exc:
        raise LabError(str(exc)) from exc
    existing = lab_nodes()
    # Asked for, else what the node runs, else the default.
    default = cfg.releases(count, cfg.DEFAULT_RELEASES)
    release = {n: asked.get(n.name) or existing.get(n, {}).get("release")
               or (kept or {}).get(n.name) or default[n.name]
               for n in nodes(count)}
    tags = {r: ensure_image(r) for r in sorted(set(release.values()))}
    ensure_workloads()
    ensure_traefik_image()
    image_ids = {r: docker("image", "inspect", "-f", "{{.Id}}", t) for r, t in tags.items()}
    # The other labs' nodes share the kernel too.
    every_lab = docker("ps", "-aq", "--filter", f"label={cfg.NODE_LABEL}").split()
    ensure_inotify(count + len(every_lab) - len(existing))
    ensure_network()
    ensure_apt_cache()
    pubkey = ensure_key()
    for extra in [n for n in existing if n.index > count]:
        log(f"removing {extra.name} (beyond {count} nodes) and its volumes")
        remove_node(extra)
    actions = {n: ensure_node(n, release[n], tags[release[n]], image_ids[release[n]],
                              existing.get(n)) for n in nodes(count)}
    for node, action in actions.items():
        if action != "running":
            log(f"{node.name} {action} ({node.ip})")
    with ThreadPoolExecutor(max_workers=count) as pool:
        list(pool.map(lambda n: wait_ready(n, pubkey), actions))
    # Another release's image stays (named by the release) for the next lab that asks for it.
    keep = {*tags.values(), *(a for r in cfg.RELEASES for a in aliases(r))}
    listed = docker("images", "--format", "{{.Repository}}:{{.Tag}}", cfg.HOST_IMAGE).split()
    if old := [t for t in listed if t not in keep]:
        docker("rmi", *old, check=False)  # an image some container still uses stays
        log(f"pruned older image tags {' '.join(old)}")
    if inventory.write(count):
        log(f"wrote {cfg.INVENTORY.relative_to(cfg.REPO)}")
    if cfg.APART:
        inventory.link_lab_group_vars()
    if copied := inventory.write_group_vars():
        log(f"copied inventory/example's group_vars/all: {', '.join(copied)}")
    member = cfg.groups(count)
    rows = []
    for node, action in actions.items():
        in_groups = ",".join(g for g, hosts in member.items() if node.name in hosts)
        rows.append([node.name, node.ip, release[node], in_groups, f"{action}, ssh ready"])
    table(["NODE", "IP", "RELEASE", "GROUPS", "STATE"], rows)
    log(f"lab up: {count} node(s) in {elapsed(start)}")
    return 0


def _remove_network(network: str) -> None:
    """`docker network rm`, after forcibly disconnecting what still holds an endpoint on it:
    a container that is not the lab's, or an endpoint left by a container already removed.
    A network that stays is reused by the next `up` with whatever it still holds."""
    if run("docker", "network", "rm", network, check=False).returncode == 0:
        return
    fmt = "{{range .Containers}}{{.Name}} {{end}}"
    for endpoint in docker("network", "inspect", "-f", fmt, network, check=False).split():
        docker("network", "disconnect", "-f", network, endpoint, check=False)
        log(f"disconnected {endpoint} from the lab's network")
    gone = run("docker", "network", "rm", network, check=False)
    if gone.returncode != 0:
        raise LabError(f"cannot remove the lab's network {network}: {gone.stderr.strip()}\n"
                       "a stale endpoint only a restart of the engine clears: restart dockerd "
                       "(scripts/ensure-docker.sh starts it again) and run `lab down` again")


def down(images: bool) -> int:
    steps = {"container": ("ps -a", "rm -f -v"), "volume": ("volume ls", "volume rm -f")}
    for kind, (lister, remover) in steps.items():
        if found := docker(*lister.split(), "-q", "--filter", f"label={cfg.LABEL}").split():
            docker(*remover.split(), *found)
            log(f"removed {len(found)} {kind}(s)")
    for hosts_file in (cfg.STATE_DIR / "etc-hosts").glob(f"{cfg.CONTAINER_PREFIX}*"):
        hosts_file.unlink()
    if cfg.APART:
        # Its inventory is all generated; the network is the main lab's.
        if cfg.INVENTORY.parent.exists():
            shutil.rmtree(cfg.INVENTORY.parent)
            log(f"removed {cfg.INVENTORY.parent.relative_to(cfg.REPO)}")
        if images:
            log("images kept: every lab uses them (the main lab's `down --images` removes them)")
        return 0
    # After the volumes: a network that will not go must not leave them behind.
    if found := docker("network", "ls", "-q", "--filter", f"label={cfg.NETWORK_LABEL}").split():
        for network in found:
            _remove_network(network)
        log(f"removed {len(found)} network(s)")
    if images:
        listing = docker("images", "--format", "{{.Repository}}:{{.Tag}}")
        ours = (cfg.HOST_IMAGE, cfg.BASE_IMAGE)
        tags = [t for t in listing.split()
                if t.split(":")[0] in ours or t.startswith(cfg.WORKLOAD_PREFIX)]
        if tags:
            docker("rmi", *tags)
            log(f"removed images {' '.join(tags)}")
    if cfg.INVENTORY.exists():
        cfg.INVENTORY.unlink()
        log(f"removed {cfg.INVENTORY.relative_to(cfg.REPO)}")
    # The copy of the example's group_vars; .lab/ keeps the vault password and secrets, the
    # PKI directory the CA: the next `up` writes the same inventory again.
    if cfg.LAB_ALL.exists():
        shutil.rmtree(cfg.LAB_ALL)
        log(f"removed {cfg.LAB_ALL.relative_to(cfg.REPO)}")
    return 0


def data_tier(node: Node, member: dict[str, list[str]]) -> str:
    """The node's part in GitLab's data tier: whether its etcd member answers healthy, its
    PostgreSQL member's role (Leader, Sync Standby, Replica) as Patroni lists it, and whether
    its Redis is the primary or a replica."""
    parts = []
    if node.name in member.get("etcd", []):
        health = inside(node, "dockhand-etcdctl", "--command-timeout=3s", "endpoint", "health",
                        "-w", "json")
        parts.append("etcd " + ("healthy" if '"health":true' in health else "down"))
    if node.name in member.get("postgresql", []):
        listed = inside(node, "patronictl", "-c", "/etc/patroni/config.yml", "list", "-f", "json")
        try:
            role = next((m["Role"] for m in json.loads(listed) if m["Member"] == node.name),
                        "not listed")
        except ValueError:
            role = "down"
        parts.append(f"pg {role}")
    if node.name in member.get("redis", []):
        role = inside(node, "sh", "-c", "REDISCLI_AUTH=$(sed -n 's/^requirepass //p' "
                      "/etc/dockhand/redis/redis.conf) redis-cli --tls --no-auth-warning "
                      "--cacert /etc/dockhand/redis/tls/ca.crt -h 127.0.0.1 ROLE | head -n 1")
        parts.append("redis " + {"master": "primary", "slave": "replica"}.get(role, "down"))
    return ", ".join(parts) or "-"


def status() -> int:
    found = lab_nodes()
    if not found:
        print(f"the lab is down (no {cfg.CONTAINER_PREFIX}* node containers)")
        return 1

    member = cfg.groups(max(n.index for n in found))

    def probe(node: Node) -> list[str]:
        state = found[node]["state"]
        roles = ",".join(g for g, hosts in member.items()
                         if node.name in hosts and g != "docker_hosts")
        if state != "running":
            return [node.name, node.ip, found[node]["release"] or "unknown", state,
                    "-", "-", "-", "-", roles]
        systemd = inside(node, "systemctl", "is-system-running")
        engine = inside(node, "systemctl", "is-active", "docker")
        if engine == "active":
            fmt = "{{.ServerVersion}} {{.Containers}}"
            version, containers = inside(node, "docker", "info", "--format", fmt).split()[:2]
            engine = f"{version}, {containers} containers"
        elif node.name in member.get("podman_hosts", []):
            engine = inside(node, "podman", "--version").replace("podman version ", "podman ")
        return [node.name, node.ip, found[node]["release"] or "unknown", state, systemd,
                "yes" if ssh_ok(node) else "no", engine, data_tier(node, member), roles]

    with ThreadPoolExecutor(max_workers=len(found)) as pool:
        rows = list(pool.map(probe, found))
    table(["NODE", "IP", "RELEASE", "CONTAINER", "SYSTEMD", "SSHD", "ENGINE",
           "DATA TIER", "GROUPS"], rows)
    return 0 if all(r[3] == "running" and r[5] == "yes" for r in rows) else 1


def ssh(target: str, command: list[str]) -> int:
    node = parse_node(target)
    if node not in lab_nodes():
        raise LabError(f"{node.name} does not exist: run `python -m lab up` first")
    os.execvp("ssh", ssh_argv(node, *command))
    return 127  # not reached: exec replaced this process


def rebuild(target: str) -> int:
    """Remove one node's container and volumes, then bring the lab up with the same size."""
    node = parse_node(target)
    found = lab_nodes()
    count = max((n.index for n in found), default=0) or default_nodes()
    log(f"rebuilding {node.name}: removing its container and volumes")
    remove_node(node)
    kept = {node.name: found[node]["release"]} if node in found else {}
    return up(max(count, node.index), kept)


def default_nodes() -> int:
    value = os.environ.get("LAB_NODES", str(cfg.DEFAULT_NODES))
    if not value.isdigit():
        raise LabError(f"LAB_NODES must be a number, not {value!r}")
    return int(value)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lab", description=__doc__)
    sub = parser.add_subparsers(dest="cmd", required=True)
    p_up = sub.add_parser("up", help="build the image if needed, start the nodes")
    p_up.add_argument("--nodes", type=int, help=f"default: $LAB_NODES or {cfg.DEFAULT_NODES}")
    p_down = sub.add_parser("down", help="remove the lab's containers, network and volumes")
    p_down.add_argument("--images", action="store_true", help="also remove the lab images")
    sub.add_parser("status", help="show every node; exit 1 if the lab is not up")
    p_ssh = sub.add_parser("ssh", help="ssh into a node: ssh node2 [command ...]")
    p_ssh.add_argument("node")
    p_ssh.add_argument("command", nargs=argparse.REMAINDER)
    sub.add_parser("rebuild", help="recreate one node with fresh volumes").add_argument("node")
    args = parser.parse_args(argv)
    try:
        if args.cmd == "up":
            return up(args.nodes if args.nodes is not None else default_nodes())
        if args.cmd == "down":
            return down(args.images)
        if args.cmd == "ssh":
            return ssh(args.node, args.command)
        return status() if args.cmd == "status" else rebuild(args.node)
    except LabError as exc:
        print(f"[lab] error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
