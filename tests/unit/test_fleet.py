"""What the roles derive from the inventory's groups: the front door's sites, the registries
every host trusts, the swarm's registry logins. Plain dicts stand in for hostvars, which the
filters read the same way (a mapping per host)."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.dockhand.docker.plugins.filter.fleet import (
    fleet_postgresql,
    fleet_redis,
    fleet_registries,
    fleet_registry_logins,
    fleet_sites,
    member_addresses,
)

GROUPS = {
    "all": ["d1", "d2", "d3", "p1"],
    "docker_hosts": ["d1", "d2", "d3"],
    "swarm_managers": ["d1", "d2", "d3"],
    "registry": ["d1"],
    "proxy": ["d1"],
    "gitlab": ["d2"],
    "registry_ha": ["d2", "d3"],
    "podman_hosts": ["p1"],
}


def hostvars(**per_host):
    common = {"docker_registry_name": "registry.example.com",
              "gitlab_external_url": "https://gitlab.example.com/",
              "registry_ha_name": "registry-ha.example.com",
              "docker_registry_users": [{"name": "ci"}]}
    hosts = {h: {**common, "ansible_host": f"10.0.0.{i}"} for i, h in enumerate(GROUPS["all"], 1)}
    for host, extra in per_host.items():
        hosts[host].update(extra)
    return hosts


def test_sites_of_a_full_inventory():
    assert fleet_sites(GROUPS, hostvars()) == [
        {"name": "registry", "server_name": "registry.example.com", "registry": True,
         "upstream": "https://10.0.0.1:5000"},
        {"name": "gitlab", "server_name": "gitlab.example.com", "routed_by_labels": True,
         "upstream": "http://10.0.0.2:8929"},
        {"name": "registry-ha", "server_name": "registry-ha.example.com", "registry": True,
         "upstream": ["https://10.0.0.2:5000", "https://10.0.0.3:5000"]},
    ]


@pytest.mark.parametrize(("drop", "names"), [
    ("registry", ["gitlab", "registry-ha"]),
    ("gitlab", ["registry", "registry-ha"]),
    ("registry_ha", ["registry", "gitlab"]),
    # GitLab runs as a stack: without managers it is not deployed, so not served.
    ("swarm_managers", ["registry", "registry-ha"]),
])
def test_a_group_without_hosts_has_no_site(drop, names):
    groups = {**GROUPS, drop: []}
    assert [s["name"] for s in fleet_sites(groups, hostvars())] == names


def test_defaults_where_the_inventory_says_nothing():
    bare = {h: {} for h in GROUPS["all"]}
    bare["d2"]["registry_ha_name"] = "ha.example.com"
    sites = fleet_sites(GROUPS, bare)
    assert sites[0]["server_name"] == "d1" and sites[0]["upstream"] == "https://d1:5000"
    assert sites[1]["server_name"] == "d2" and sites[1]["upstream"] == "http://d2:8929"


def test_ports_from_the_inventory():
    hv = hostvars(d1={"docker_registry_port": 443}, d2={"gitlab_http_port": 8080})
    sites = fleet_sites(GROUPS, hv)
    assert sites[0]["upstream"] == "https://10.0.0.1:443"
    assert sites[1]["upstream"] == "http://10.0.0.2:8080"


def test_registry_ha_without_a_name_is_refused_naming_the_variable():
    hv = hostvars()
    del hv["d2"]["registry_ha_name"]
    with pytest.raises(AnsibleFilterError, match="registry_ha_name"):
        fleet_sites(GROUPS, hv)


def test_registries_every_host_trusts():
    hv = hostvars(p1={"dockhand_podman_registry": True,
                      "docker_registry_name": "podman.example.com"})
    assert fleet_registries(GROUPS, hv) == [
        {"name": "registry.example.com", "port": 5000, "address": "10.0.0.1"},
        {"name": "podman.example.com", "port": 5000, "address": "10.0.0.4"},
        {"name": "registry.example.com", "port": 443, "address": "10.0.0.1"},
        {"name": "gitlab.example.com", "port": 443, "address": "10.0.0.1"},
        {"name": "registry-ha.example.com", "port": 443, "address": "10.0.0.1"},
    ]


def test_a_podman_host_without_a_registry_adds_none():
    names = [(r["name"], r["port"]) for r in fleet_registries(GROUPS, hostvars())]
    assert ("registry.example.com", 5000) in names and len(names) == 4


def test_the_proxys_own_sites_win_over_the_derived_ones():
    hv = hostvars(d1={"proxy_sites": [{"name": "x", "server_name": "x.example.com",
                                       "upstream": "http://10.0.0.9:80"}],
                      "proxy_https_port": 8443})
    assert fleet_registries({**GROUPS, "podman_hosts": []}, hv)[-1] == {
        "name": "x.example.com", "port": 8443, "address": "10.0.0.1"}


def test_no_groups_no_registries():
    assert fleet_registries({"all": []}, {}) == []
    assert fleet_sites({}, {}) == []


@pytest.mark.parametrize(("users", "expected"), [
    ([{"name": "ci"}], [{"registry": "registry.example.com:5000", "username": "ci",
                         "password_file": "registry-ci.password"}]),
    ([{"name": "ci", "password": "s3cret"}],
     [{"registry": "registry.example.com:5000", "username": "ci", "password": "s3cret"}]),
    ([], []),
])
def test_registry_logins(users, expected):
    assert fleet_registry_logins(GROUPS, hostvars(d1={"docker_registry_users": users})) == expected


def test_no_registry_no_login():
    assert fleet_registry_logins({**GROUPS, "registry": []}, hostvars()) == []


def test_no_address_for_etc_hosts_without_an_ip():
    hv = {h: {"docker_registry_name": "registry.example.com"} for h in GROUPS["all"]}
    hv["d2"]["registry_ha_name"] = "ha.example.com"
    registries = fleet_registries({**GROUPS, "podman_hosts": []}, hv)
    assert registries and all("address" not in r for r in registries)


def test_one_name_at_two_addresses_is_refused():
    groups = {**GROUPS, "proxy": ["d3"], "registry_ha": []}
    with pytest.raises(AnsibleFilterError, match=r"registry\.example\.com.*d1.*d3"):
        fleet_registries(groups, hostvars())


@pytest.mark.parametrize(("host", "extra", "named"), [
    ("d1", {"docker_registry_name": "bad_name!"}, "docker_registry_name (of d1)"),
    ("d2", {"gitlab_external_url": "https://bad_name!/"}, "gitlab_external_url (of d2)"),
    ("d2", {"registry_ha_name": "-bad"}, "registry_ha_name (of d2)"),
])
def test_a_bad_name_is_refused_naming_where_it_came_from(host, extra, named):
    with pytest.raises(AnsibleFilterError, match=r"not a valid DNS name") as failure:
        fleet_registries({**GROUPS, "podman_hosts": []}, hostvars(**{host: extra}))
    assert named in str(failure.value)


class CountingHostVars(dict):
    """Counts the reads of each host's variables: Ansible computes all of a host's variables
    on each `hostvars[host]`."""

    def __init__(self, hosts):
        super().__init__(hosts)
        self.reads = {}

    def __getitem__(self, host):
        self.reads[host] = self.reads.get(host, 0) + 1
        return super().__getitem__(host)


@pytest.mark.parametrize("fleet_filter", [fleet_sites, fleet_registries, fleet_registry_logins])
def test_each_host_is_read_once_per_call(fleet_filter):
    podman = {"dockhand_podman_registry": True, "docker_registry_name": "podman.example.com"}
    counted = CountingHostVars(hostvars(p1=podman))
    assert fleet_filter(GROUPS, counted) == fleet_filter(GROUPS, hostvars(p1=podman))
    assert counted.reads and set(counted.reads.values()) == {1}, counted.reads


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({}, ["10.0.0.1", "10.0.0.2"]),
        # The default route's address from the facts, over ansible_host.
        ({"d1": {"ansible_facts": {"default_ipv4": {"address": "192.168.9.1"}}}},
         ["192.168.9.1", "10.0.0.2"]),
        # The host variable of the cluster's own network, over both.
        ({"d2": {"etcd_member_address": "172.16.0.2",
                 "ansible_facts": {"default_ipv4": {"address": "192.168.9.2"}}}},
         ["10.0.0.1", "172.16.0.2"]),
        # Without ansible_host either: the inventory name.
        ({"d1": {"ansible_host": None}}, ["d1", "10.0.0.2"]),
    ],
    ids=["ansible_host", "default-route", "host-variable", "inventory-name"],
)
def test_member_addresses(extra, expected):
    hosts = hostvars(**extra)
    for host, values in extra.items():
        for key, value in values.items():
            if value is None:
                del hosts[host][key]
    assert member_addresses(["d1", "d2"], hosts, "etcd_member_address") == expected


def test_postgresql_endpoint_lists_every_member_on_the_endpoint_port():
    groups = {**GROUPS, "postgresql": ["d1", "d2", "d3"]}
    assert fleet_postgresql(groups, hostvars()) == {"host": "10.0.0.1,10.0.0.2,10.0.0.3",
                                                    "port": 5433}
    moved = hostvars(d1={"postgresql_ha_endpoint_port": 6000, "postgresql_ha_address": "10.9.9.1"})
    assert fleet_postgresql(groups, moved) == {"host": "10.9.9.1,10.0.0.2,10.0.0.3", "port": 6000}
    assert fleet_postgresql(GROUPS, hostvars()) == {}


def test_redis_sentinels_of_every_member():
    groups = {**GROUPS, "redis": ["d1", "d2", "d3"]}
    assert fleet_redis(groups, hostvars()) == {
        "sentinels": [{"host": f"10.0.0.{i}", "port": 26379} for i in (1, 2, 3)],
        "master_name": "dockhand"}
    moved = hostvars(d1={"redis_ha_sentinel_port": 26380, "redis_ha_master_name": "gitlab"})
    assert fleet_redis(groups, moved)["sentinels"][2] == {"host": "10.0.0.3", "port": 26380}
    assert fleet_redis(groups, moved)["master_name"] == "gitlab"
    assert fleet_redis(GROUPS, hostvars()) == {}
