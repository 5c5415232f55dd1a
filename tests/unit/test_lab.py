"""Pure logic of the lab CLI: image recipe hash, mirror parsing, inventory, node naming."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lab import cli, config, image, inventory
from lab.config import Node

yaml = pytest.importorskip("yaml")


def _image_dir(tmp_path: Path, dockerfile: str) -> Path:
    d = tmp_path / "image"
    d.mkdir(exist_ok=True)
    (d / "Dockerfile").write_text(dockerfile)
    (d / "ssh-hostkeys.service").write_text("[Unit]\n")
    return d


def test_host_hash_follows_dockerfile_text(tmp_path: Path) -> None:
    args = image.debootstrap_args()
    d = _image_dir(tmp_path, "FROM base\n")
    first = image.host_hash(args, d)
    assert len(first) == 12
    assert int(first, 16) >= 0
    assert image.host_hash(args, d) == first
    (d / "Dockerfile").write_text("FROM base\nRUN true\n")
    assert image.host_hash(args, d) != first


def test_host_hash_follows_copied_files_and_recipe(tmp_path: Path) -> None:
    args = image.debootstrap_args()
    d = _image_dir(tmp_path, "FROM base\n")
    first = image.host_hash(args, d)
    (d / "extra.conf").write_text("x\n")
    second = image.host_hash(args, d)
    assert second != first
    other = [*args[:-1], "trixie"]
    assert image.host_hash(other, d) != second
    assert image.base_hash(other) != image.base_hash(args)


def test_base_hash_ignores_image_dir(tmp_path: Path) -> None:
    args = image.debootstrap_args()
    assert image.base_hash(args) == image.base_hash(list(args))
    assert image.base_hash(args) != image.host_hash(args, _image_dir(tmp_path, "FROM x\n"))


def test_a_build_step_logs_into_a_state_dir_not_made_yet(tmp_path: Path, monkeypatch) -> None:
    # A fresh clone on a machine whose Docker has the base image: the workload build is the
    # first thing to log, before anything made .lab.
    log = tmp_path / "fresh-clone" / ".lab" / "image-build.log"
    monkeypatch.setattr(config, "BUILD_LOG", log)
    image._logged("a step", sys.executable, "-c", "print('built')")
    assert "built" in log.read_text()
    assert log.parent.stat().st_mode & 0o777 == 0o700
    with pytest.raises(image.LabError, match="a step failed"):
        image._logged("a step", sys.executable, "-c", "raise SystemExit(3)")


def test_debootstrap_recipe() -> None:
    args = image.debootstrap_args()
    assert args[0] == "--variant=minbase"
    assert args[-1] == "bookworm"
    included = args[1].removeprefix("--include=").split(",")
    for pkg in ("systemd", "systemd-sysv", "dbus", "openssh-server", "python3", "sudo"):
        assert pkg in included


DEB822 = """\
Types: deb
# http://snapshot.debian.org/archive/debian-security/20250520T000000Z
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb-src
URIs: http://src.example.org/debian
Suites: bookworm
Components: main

Types: deb
URIs: http://mirror.example.org/debian/ http://second.example.org/debian
Suites: bookworm bookworm-updates
Components: main contrib
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
"""

ONE_LINE = """\
# deb cdrom:[Debian GNU/Linux 12]/ bookworm main
deb http://security.debian.org/debian-security bookworm-security main
deb-src http://src.example.org/debian bookworm main
deb [ arch=amd64 signed-by=/etc/k.gpg ] https://ftp.example.net/debian/ bookworm main non-free
deb http://late.example.org/debian bookworm main
"""


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"sources.list.d/debian.sources": DEB822}, "http://mirror.example.org/debian"),
        ({"sources.list": ONE_LINE}, "https://ftp.example.net/debian"),
        (
            {"sources.list.d/debian.sources": DEB822, "sources.list": ONE_LINE},
            "http://mirror.example.org/debian",
        ),
        ({"sources.list": "# nothing here\n"}, "http://deb.debian.org/debian"),
        ({}, "http://deb.debian.org/debian"),
    ],
)
def test_mirror_parsing(tmp_path: Path, files: dict[str, str], expected: str) -> None:
    (tmp_path / "sources.list.d").mkdir()
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    assert image.mirror(tmp_path) == expected


@pytest.mark.parametrize(
    ("count", "managers", "workers", "gitlab", "podman", "gluster"),
    [
        (1, ["node1"], [], ["node1"], [], []),
        (3, ["node1"], ["node2", "node3"], ["node2"], [], []),
        (4, ["node1", "node2", "node3"], ["node4"], ["node2"], [], ["node1", "node2", "node3"]),
        (5, ["node1", "node2", "node3"], ["node4"], ["node2"], ["node5"],
         ["node1", "node2", "node3"]),
        (6, ["node1", "node2", "node3"], ["node4"], ["node2"], ["node5", "node6"],
         ["node1", "node2", "node3"]),
        (7, ["node1", "node2", "node3"], ["node4", "node7"], ["node2"], ["node5", "node6"],
         ["node1", "node2", "node3"]),
    ],
)
def test_inventory_groups(
    count: int, managers: list[str], workers: list[str], gitlab: list[str], podman: list[str],
    gluster: list[str],
) -> None:
    key = Path("/srv/some where/.lab/id_ed25519")
    data = yaml.safe_load(inventory.render(count, key=key))
    assert set(data) == {"all"}
    assert data["all"]["vars"] == {
        "ansible_user": "root",
        "ansible_ssh_private_key_file": str(key),
        "ansible_ssh_common_args": "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null",
        "ansible_host_key_checking": False,
        "ansible_python_interpreter": "/usr/bin/python3",
    }
    children = data["all"]["children"]

    def members(group: str) -> list[str]:
        return list((children[group] or {}).get("hosts") or {})

    assert list(children) == [
        "docker_hosts",
        "swarm_managers",
        "swarm_workers",
        "registry",
        "proxy",
        "gitlab",
        "podman_hosts",
        "glusterfs",
        "registry_ha",
        "etcd",
        "postgresql",
        "redis",
        "lab",
    ]
    # Every node, so that group_vars/lab.yml (the lab's changes) applies to each.
    assert members("lab") == [f"node{i}" for i in range(1, count + 1)]
    hosts = children["docker_hosts"]["hosts"]
    assert hosts == {
        f"node{i}": {"ansible_host": f"172.29.77.{10 + i}"}
        for i in range(1, count + 1) if f"node{i}" not in podman
    }
    assert children["podman_hosts"] == (
        {"hosts": {n: {"ansible_host": f"172.29.77.{10 + int(n[4:])}"} for n in podman}}
        if podman else {})
    assert members("glusterfs") == gluster
    assert members("registry_ha") == gluster[1:]
    # The data tier runs on the GlusterFS hosts: three, an odd number for etcd's quorum.
    assert members("etcd") == gluster
    assert members("postgresql") == gluster
    assert members("redis") == gluster
    assert members("swarm_managers") == managers
    assert members("swarm_workers") == workers
    assert members("registry") == members("proxy") == ["node1"]
    assert members("gitlab") == gitlab
    assert sorted(managers + workers) == sorted(hosts)


def test_inventory_header_and_write_only_on_change(tmp_path: Path) -> None:
    text = inventory.render(3)
    assert text.startswith("---\n# Generated by `python -m lab up`")
    target = tmp_path / "inventory" / "lab" / "hosts.yml"
    assert inventory.write(3, target) is True
    assert inventory.write(3, target) is False
    assert inventory.write(4, target) is True
    assert "node4" in target.read_text()


@pytest.mark.parametrize(
    ("text", "index"),
    [("node1", 1), ("1", 1), ("node12", 12), ("dockhand-lab-node3", 3)],
)
def test_node_parse(text: str, index: int) -> None:
    assert Node.parse(text) == Node(index)


@pytest.mark.parametrize("text", ["node", "nodeX", "0", "node0", "-1", "web1", "999"])
def test_node_parse_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="not a lab node"):
        Node.parse(text)


@pytest.mark.parametrize(
    ("index", "ip"), [(1, "172.29.77.11"), (3, "172.29.77.13"), (9, "172.29.77.19")]
)
def test_node_naming(index: int, ip: str) -> None:
    node = Node(index)
    assert node.name == f"node{index}"
    assert node.container == f"dockhand-lab-node{index}"
    assert node.ip == ip
    assert node.volumes == {
        f"dockhand-lab-node{index}-docker": "/var/lib/docker",
        f"dockhand-lab-node{index}-containers": "/var/lib/containers",
        f"dockhand-lab-node{index}-srv": "/srv",
    }
    assert [n.name for n in config.nodes(3)] == ["node1", "node2", "node3"]


def _lab_config(name: str) -> subprocess.CompletedProcess[str]:
    """What lab.config makes of DOCKHAND_LAB=name, read in a process of its own (the module
    reads the variable once, at import)."""
    probe = ("import json; from lab import config as c; n = c.Node(3); print(json.dumps("
             "[n.container, n.ip, list(n.volumes), c.LABEL, c.NETWORK_LABEL, c.NETWORK, "
             "str(c.INVENTORY.relative_to(c.REPO)), c.MAX_NODES, "
             "c.Node.parse(n.container).index, c.FIRST_IP]))")
    return subprocess.run([sys.executable, "-c", probe], cwd=config.REPO, capture_output=True,
                          text=True, check=False, env={**os.environ, "DOCKHAND_LAB": name})


@pytest.mark.parametrize(
    ("name", "container", "ip", "label", "inventory_path", "max_nodes"),
    [("", "dockhand-lab-node3", "172.29.77.13", "dockhand.lab=1", "inventory/lab/hosts.yml", 100),
     ("lab", "dockhand-lab-node3", "172.29.77.13", "dockhand.lab=1", "inventory/lab/hosts.yml",
      100),
     ("bench", "dockhand-bench-node3", "172.29.77.153", "dockhand.lab=bench",
      "inventory/bench/hosts.yml", 60)],
)
def test_another_lab_has_its_own_names_addresses_and_inventory_on_the_same_network(
        name, container, ip, label, inventory_path, max_nodes) -> None:
    answer = _lab_config(name)
    assert answer.returncode == 0, answer.stderr
    assert json.loads(answer.stdout)[:-1] == [
        container, ip, [f"{container}-docker", f"{container}-containers", f"{container}-srv"],
        label, "dockhand.lab=1", "dockhand-lab", inventory_path, max_nodes, 3]


def test_the_main_lab_and_another_share_no_address() -> None:
    ranges = []
    for name in ("lab", "bench"):
        answer = _lab_config(name)
        assert answer.returncode == 0, answer.stderr
        max_nodes, first_ip = (json.loads(answer.stdout)[i] for i in (7, 9))
        ranges.append(range(first_ip + 1, first_ip + max_nodes + 1))
    main, other = ranges
    # Both within the /24, above the gateway (.1), and apart.
    assert main[0] > 1 and other[-1] < 255 and not set(main) & set(other)


@pytest.mark.parametrize("name", ["Bench", "1lab", "bench-2", "a" * 17, "../lab"])
def test_a_lab_name_that_is_no_short_lowercase_word_is_refused(name: str) -> None:
    answer = _lab_config(name)
    assert answer.returncode != 0
    assert "DOCKHAND_LAB must be a short lowercase name" in answer.stderr


def test_another_lab_links_the_main_labs_group_vars_and_ignores_its_inventory(
        tmp_path: Path) -> None:
    main = tmp_path / "inventory" / "lab" / "group_vars"
    (main / "all").mkdir(parents=True)
    (main / "lab.yml").write_text("---\nlab_var: 1\n")
    (main / "podman_hosts.yml").write_text("---\n")
    target = tmp_path / "inventory" / "bench" / "group_vars"
    for _ in range(2):  # twice: a second `up` finds the links in place
        inventory.link_lab_group_vars(target, main)
    assert sorted(p.name for p in target.iterdir()) == ["lab.yml", "podman_hosts.yml"]
    assert os.readlink(target / "lab.yml") == "../../lab/group_vars/lab.yml"
    assert (target / "lab.yml").read_text() == "---\nlab_var: 1\n"
    assert (target.parent / ".gitignore").read_text().splitlines()[-1] == "*"


def test_the_lab_vault_answers_every_variable_of_the_examples(tmp_path: Path) -> None:
    example = (config.EXAMPLE_ALL / "vault.yml").read_text()
    state: dict[str, str] = {}
    plain = yaml.safe_load(inventory.vault_plaintext(example, state))
    assert set(plain) == set(yaml.safe_load(example))
    assert plain["vault_gitlab_runner_token"].startswith("glrt-")
    # The same secrets on the next run: the state keeps them.
    assert yaml.safe_load(inventory.vault_plaintext(example, state)) == plain
    with pytest.raises(ValueError, match="vault_new_secret"):
        inventory.vault_plaintext(example + "vault_new_secret: x\n", {})


def test_group_vars_copied_and_the_vault_encrypted_once(tmp_path: Path) -> None:
    target, password = tmp_path / "all", tmp_path / ".lab" / "vault-password"
    assert inventory.write_group_vars(config.EXAMPLE_ALL, target, password) == [
        "main.yml", "vault.yml"]
    assert (target / "main.yml").read_bytes() == (config.EXAMPLE_ALL / "main.yml").read_bytes()
    assert (target / "vault.yml").read_text().startswith("$ANSIBLE_VAULT;1.1;AES256")
    assert oct((target / "vault.yml").stat().st_mode & 0o777) == "0o600"
    assert inventory.write_group_vars(config.EXAMPLE_ALL, target, password) == []


def _inotify(tmp_path: Path, instances: int, watches: int) -> Path:
    proc = tmp_path / "inotify"
    proc.mkdir()
    (proc / "max_user_instances").write_text(f"{instances}\n")
    (proc / "max_user_watches").write_text(f"{watches}\n")
    return proc


def test_inotify_limits_are_raised_for_a_large_lab_and_never_lowered(tmp_path: Path) -> None:
    proc = _inotify(tmp_path, 128, 10**6)
    cli.ensure_inotify(24, proc)
    # Debian's 128 instances stop near 20 systemd nodes.
    assert int((proc / "max_user_instances").read_text()) >= 24 * 32
    assert (proc / "max_user_watches").read_text() == f"{10**6}\n"



@pytest.mark.parametrize(("spec", "expected"), [
    ("", {}),
    ("trixie", {f"node{i}": "trixie" for i in range(1, 4)}),
    ("node3=trixie", {"node1": "bookworm", "node2": "bookworm", "node3": "trixie"}),
    ("trixie, 1=bookworm", {"node1": "bookworm", "node2": "trixie", "node3": "trixie"}),
    # A node beyond the lab's size is left out, so one setting serves labs of any size.
    ("node2=trixie,node9=trixie", {"node1": "bookworm", "node2": "trixie", "node3": "bookworm"}),
])
def test_releases_name_every_node_or_none(spec: str, expected: dict[str, str]) -> None:
    assert config.releases(3, spec) == expected


@pytest.mark.parametrize(("spec", "names"), [
    ("sid", "'sid' is not a release"),
    ("node2=buster", "'buster' is not a release"),
    ("trixie,bookworm", "two releases for every node"),
    ("node2=trixie,2=bookworm", "names node2 twice"),
    ("host2=trixie", "not a lab node"),
])
def test_releases_refuse_what_the_lab_cannot_build(spec: str, names: str) -> None:
    with pytest.raises(ValueError, match=names):
        config.releases(3, spec)


def test_each_release_has_its_own_image_recipe() -> None:
    bookworm, trixie = (image.base_hash(image.debootstrap_args(r)) for r in config.RELEASES)
    assert bookworm != trixie
    assert image.aliases("trixie") == [f"{config.HOST_IMAGE}:trixie"]
    assert f"{config.HOST_IMAGE}:latest" in image.aliases(config.SUITE)


def test_the_default_lab_moves_a_worker_and_one_podman_host_to_trixie() -> None:
    default = config.releases(config.DEFAULT_NODES, config.DEFAULT_RELEASES)
    groups = config.groups(config.DEFAULT_NODES)
    trixie = sorted(name for name, release in default.items() if release == "trixie")
    assert trixie == ["node4", "node5"]
    assert "node4" in groups["swarm_workers"]
    # A Podman host of each release: 5 (quadlets) and 4.3 (`podman generate systemd`).
    assert groups["podman_hosts"] == ["node5", "node6"] and default["node6"] == "bookworm"
