"""The data tier's refusals before any change (site.yml's first play runs these preflights):
a quorum etcd cannot keep, passwords that are empty or short, synchronous replication with
no standby, a PostgreSQL group without etcd, an endpoint on the registry's port, fewer than
3 Sentinels or a quorum larger than the Sentinels. Run on a
local inventory of three hosts (nothing is contacted: the preflights read variables only)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
HOSTS = ["db1", "db2", "db3", "db4"]


def preflight(tmp_path: Path, groups: dict[str, list[str]], *extra: str,
              hostvars: dict[str, dict] | None = None) -> tuple[int, str]:
    inventory = {"all": {
        "hosts": {h: {"ansible_connection": "local", "ansible_host": f"10.9.0.{i + 1}",
                      **(hostvars or {}).get(h, {})} for i, h in enumerate(HOSTS)},
        "vars": {"ansible_python_interpreter": "/usr/bin/python3"},
        "children": {name: {"hosts": dict.fromkeys(members)} for name, members in groups.items()},
    }}
    (tmp_path / "hosts.yml").write_text(yaml.safe_dump(inventory))
    run = subprocess.run(
        ["ansible-playbook", "-i", str(tmp_path / "hosts.yml"),
         str(ROOT / "tests/unit/preflight_data.yml"), *extra],
        capture_output=True, text=True, cwd=ROOT, check=False,
        env=dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg")))
    return run.returncode, " ".join(run.stdout.split())


THREE = {"etcd": HOSTS[:3], "postgresql": HOSTS[:3], "redis": HOSTS[:3]}


def test_three_members_with_generated_passwords_pass(tmp_path):
    rc, out = preflight(tmp_path, THREE)
    assert rc == 0, out[-3000:]


@pytest.mark.parametrize(
    ("groups", "extra", "hostvars", "says"),
    [
        ({"etcd": HOSTS[:2]}, [], None, "etcd needs an odd number of members"),
        ({"etcd": HOSTS}, [], None, "etcd needs an odd number of members"),
        ({"etcd": HOSTS[:3]}, [], {"db2": {"etcd_member_address": "10.9.0.1"}},
         "give each host its own etcd_member_address"),
        ({"etcd": HOSTS[:3]}, ["-e", "etcd_election_timeout=300"], None,
         "etcd_election_timeout (300 ms) at least 5 times etcd_heartbeat_interval"),
        ({"etcd": HOSTS[:3]}, ["-e", "etcd_election_timeout=60000"], None,
         "etcd_election_timeout (60000 ms) at least 5 times etcd_heartbeat_interval (100 ms) "
         "and at most 50000 ms"),
        ({"etcd": HOSTS[:3], "postgresql": HOSTS[:1]}, [], None,
         "postgresql_ha_synchronous_mode needs a standby"),
        ({"postgresql": HOSTS[:3]}, [], None, "the etcd group must not be empty"),
        (THREE, ["-e", "postgresql_ha_superuser_password="], None,
         "postgresql_ha_superuser_password is empty"),
        (THREE, ["-e", "postgresql_ha_replication_password=short"], None,
         "postgresql_ha_replication_password is too short"),
        (THREE, ["-e", '{"postgresql_ha_users": [{"name": "gitlab", "password": ""}]}'], None,
         "the password of gitlab in postgresql_ha_users is empty"),
        (THREE, ["-e", '{"postgresql_ha_databases": [{"name": "app", "owner": "nobody"}]}'],
         None, "an owner among postgresql_ha_users"),
        (THREE, ["-e", "postgresql_ha_ttl=10"], None, "postgresql_ha_ttl (10) must be at least"),
        ({**THREE, "registry": HOSTS[:1]}, ["-e", "postgresql_ha_endpoint_port=5000"], None,
         "postgresql_ha_endpoint_port is 5000, the port of the registry"),
        ({"redis": HOSTS[:2]}, [], None, "A failover needs a majority of 3 Sentinels or more"),
        (THREE, ["-e", "redis_ha_quorum=4"], None, "redis_ha_quorum is 4"),
        (THREE, ["-e", "redis_ha_password="], None, "redis_ha_password is empty"),
        (THREE, ["-e", "redis_ha_sentinel_password=1234"], None,
         "redis_ha_sentinel_password is too short"),
        (THREE, ["-e", "redis_ha_min_replicas_to_write=3"], None,
         "redis_ha_min_replicas_to_write (3) must be fewer than the members (3)"),
    ],
    ids=["etcd-2", "etcd-4", "etcd-same-address", "etcd-timing", "etcd-timeout-too-long",
         "pg-sync-alone", "pg-no-etcd", "pg-empty-password", "pg-short-password",
         "pg-user-empty-password", "pg-unknown-owner", "pg-ttl", "pg-endpoint-on-registry-port",
         "redis-2-sentinels", "redis-quorum-above-sentinels", "redis-empty-password",
         "redis-short-password", "redis-min-replicas"],
)
def test_bad_input_is_refused_naming_the_variable(tmp_path, groups, extra, hostvars, says):
    rc, out = preflight(tmp_path, groups, *extra, hostvars=hostvars)
    assert rc != 0
    assert says in out, out[-3000:]


def test_synchronous_mode_off_runs_a_single_member(tmp_path):
    rc, out = preflight(tmp_path, {"etcd": HOSTS[:1], "postgresql": HOSTS[:1]},
                        "-e", "postgresql_ha_synchronous_mode=false")
    assert rc == 0, out[-3000:]
