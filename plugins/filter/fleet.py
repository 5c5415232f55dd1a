# Copyright (c) dockhand contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the roles derive from the inventory's groups, so that an operator writes names and
secrets, not Jinja: the registries every host trusts, the front door's sites, and the
registry logins the swarm deploys stacks with."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from ansible.errors import AnsibleFilterError
from ansible_collections.dockhand.docker.plugins.filter.registry import pki_name_errors

DOCUMENTATION = """
name: fleet
short_description: The registries, front-door sites and registry logins an inventory implies
description:
  - C(fleet_sites) lists the sites the front door (the C(proxy) group) serves. The registry on
    the first C(registry) host, as C(docker_registry_name) at C(https://ADDRESS:PORT). GitLab on
    the first C(gitlab) host, as the host of C(gitlab_external_url), at
    C(http://ADDRESS:gitlab_http_port). The registry on shared storage, when C(registry_ha) has
    hosts, as C(registry_ha_name), with every C(registry_ha) host as an upstream.
  - C(fleet_registries) lists the registries every host trusts, in the shape of
    C(docker_pki_registries). Each C(registry) host and each Podman host with
    C(dockhand_podman_registry) on its port, at its address. Each site of the front door on
    the proxy's HTTPS port, at the proxy's address. A host's address is its C(ansible_host)
    when that is an IP address (for C(/etc/hosts)); otherwise the entry has none and DNS must
    know the name. One name served at two addresses (the registry and the front door on different
    hosts under the same name) is refused, as no resolver can tell them apart by port.
  - C(fleet_registry_logins) lists the logins for the registry of the first C(registry) host,
    one per user of its C(docker_registry_users). A user without a password is given
    C(password_file), the file in the PKI directory where its generated password is kept.
  - C(registry_password_file) is the file name, in the PKI directory, of a registry user's
    generated password, for M(dockhand.docker.pki_random#lookup).
  - C(member_addresses) lists where each of the given hosts is reached on a cluster's own
    network, for the data tier's roles. That is the host variable named by its second argument
    (such as C(etcd_member_address)), else the address of the host's default route from its
    facts, else its C(ansible_host), else its inventory name.
  - C(fleet_postgresql) is the data tier's PostgreSQL endpoint as a client reaches it. C(host)
    lists the address of every C(postgresql) host (libpq tries them in turn, and each one's
    HAProxy forwards to the leader), and C(port) is their C(postgresql_ha_endpoint_port). It
    is empty without such hosts.
  - C(fleet_redis) is the data tier's Redis as a client finds it through its Sentinels.
    C(sentinels) lists C({host, port}) of the Sentinel on every C(redis) host, and
    C(master_name) is their C(redis_ha_master_name). It is empty without such hosts.
  - Each reads what the inventory sets for those hosts. A role default that the inventory does
    not override has the same value here.
"""

# The role defaults of the values read here, for hosts whose inventory leaves them unset.
REGISTRY_PORT = 5000
POSTGRESQL_ENDPOINT_PORT = 5433
SENTINEL_PORT = 26379
REDIS_MASTER_NAME = "dockhand"
GITLAB_HTTP_PORT = 8929
HTTPS_PORT = 443


class _HostVars:
    """hostvars read once per host for one call: each `hostvars[host]` has Ansible compute
    every variable of that host again, and a call reads a host's variables several times."""

    def __init__(self, hostvars):
        self._hostvars = hostvars
        self._read = {}

    def __getitem__(self, host):
        if host not in self._read:
            self._read[host] = self._hostvars[host]
        return self._read[host]


def _once(hostvars):
    return hostvars if isinstance(hostvars, _HostVars) else _HostVars(hostvars)


def _var(hostvars, host, name, default=None):
    return hostvars[host].get(name, default)


def _address(hostvars, host):
    """Where to reach a host: its ansible_host, else its inventory name."""
    return str(_var(hostvars, host, "ansible_host", host))


def _ip(hostvars, host):
    """The host's ansible_host if it is an IP address (what /etc/hosts can map a name to)."""
    try:
        return str(ipaddress.ip_address(str(_var(hostvars, host, "ansible_host", ""))))
    except ValueError:
        return None


def _checked(name, var_name, host):
    """A name a certificate and clients will use, refused here naming the variable it came
    from: the roles that read the derived lists would name only their own."""
    errors = pki_name_errors([name], f"{var_name} (of {host})")
    if errors:
        raise AnsibleFilterError("; ".join(errors))
    return name


def _members(groups, name):
    return list(groups.get(name) or [])


def _registry(hostvars, host):
    """(name, port) of the registry a registry host runs."""
    name = str(_var(hostvars, host, "docker_registry_name", host))
    return (_checked(name, "docker_registry_name", host),
            int(_var(hostvars, host, "docker_registry_port", REGISTRY_PORT)))


def password_file(user_name):
    """The file, in the PKI directory, that keeps a registry user's generated password."""
    return f"registry-{user_name}.password"


def fleet_sites(groups, hostvars):
    hostvars = _once(hostvars)
    sites = []
    registry_hosts = _members(groups, "registry")
    if registry_hosts:
        host = registry_hosts[0]
        name, port = _registry(hostvars, host)
        sites.append({"name": "registry", "server_name": name, "registry": True,
                      "upstream": f"https://{_address(hostvars, host)}:{port}"})
    gitlab_hosts = _members(groups, "gitlab")
    if gitlab_hosts and _members(groups, "swarm_managers"):
        host = gitlab_hosts[0]
        url = str(_var(hostvars, host, "gitlab_external_url", f"https://{host}"))
        port = int(_var(hostvars, host, "gitlab_http_port", GITLAB_HTTP_PORT))
        server_name = _checked(urlsplit(url).hostname or "", "gitlab_external_url", host)
        sites.append({"name": "gitlab", "server_name": server_name,
                      "upstream": f"http://{_address(hostvars, host)}:{port}",
                      # Traefik as a swarm service routes it from the stack's labels.
                      "routed_by_labels": True})
    ha_hosts = _members(groups, "registry_ha")
    if ha_hosts:
        name = _var(hostvars, ha_hosts[0], "registry_ha_name")
        if not name:
            raise AnsibleFilterError(
                "registry_ha has hosts but registry_ha_name is not set: set it to the name "
                "clients use for the registry on shared storage, e.g. registry-ha.example.com")
        upstreams = []
        for host in ha_hosts:
            port = int(_var(hostvars, host, "docker_registry_port", REGISTRY_PORT))
            upstreams.append(f"https://{_address(hostvars, host)}:{port}")
        server_name = _checked(str(name), "registry_ha_name", ha_hosts[0])
        sites.append({"name": "registry-ha", "server_name": server_name, "registry": True,
                      "upstream": upstreams})
    return sites


def fleet_registries(groups, hostvars):
    hostvars = _once(hostvars)
    registries = []
    served_at = {}  # name -> (address, the host that serves it there)

    def add(name, port, host):
        address = _ip(hostvars, host)
        if address and served_at.setdefault(name, (address, host))[0] != address:
            raise AnsibleFilterError(
                f"'{name}' would be served by {served_at[name][1]} ({served_at[name][0]}) and "
                f"by {host} ({address}) at once, and a name resolves to one address, whatever "
                f"the port: give the front door's site another name than the registry's "
                f"docker_registry_name, or run the registry and the proxy on the same host")
        if all((r["name"], r["port"]) != (name, port) for r in registries):
            registries.append({"name": name, "port": port,
                               **({"address": address} if address else {})})

    for host in _members(groups, "registry"):
        add(*_registry(hostvars, host), host)
    for host in _members(groups, "podman_hosts"):
        if _var(hostvars, host, "dockhand_podman_registry", False):
            add(*_registry(hostvars, host), host)
    proxies = _members(groups, "proxy")
    if proxies:
        proxy = proxies[0]
        sites = _var(hostvars, proxy, "proxy_sites") or fleet_sites(groups, hostvars)
        port = int(_var(hostvars, proxy, "proxy_https_port", HTTPS_PORT))
        for site in sites:
            add(str(site["server_name"]), port, proxy)
    return registries


def fleet_registry_logins(groups, hostvars):
    hostvars = _once(hostvars)
    registry_hosts = _members(groups, "registry")
    if not registry_hosts:
        return []
    host = registry_hosts[0]
    name, port = _registry(hostvars, host)
    logins = []
    for user in _var(hostvars, host, "docker_registry_users", None) or []:
        # Docker keys the login of a registry on 443 by its bare name.
        login = {"registry": name if port == HTTPS_PORT else f"{name}:{port}",
                 "username": str(user["name"])}
        if user.get("password") is None:
            login["password_file"] = password_file(user["name"])
        else:
            login["password"] = user["password"]
        logins.append(login)
    return logins


def member_addresses(members, hostvars, var_name):
    hostvars = _once(hostvars)
    addresses = []
    for host in members:
        given = _var(hostvars, host, var_name)
        if given:
            addresses.append(str(given))
            continue
        facts = _var(hostvars, host, "ansible_facts") or {}
        route = (facts.get("default_ipv4") or {}).get("address")
        addresses.append(str(route) if route else _address(hostvars, host))
    return addresses


def fleet_postgresql(groups, hostvars):
    hostvars = _once(hostvars)
    members = _members(groups, "postgresql")
    if not members:
        return {}
    return {"host": ",".join(member_addresses(members, hostvars, "postgresql_ha_address")),
            "port": int(_var(hostvars, members[0], "postgresql_ha_endpoint_port",
                             POSTGRESQL_ENDPOINT_PORT))}


def fleet_redis(groups, hostvars):
    hostvars = _once(hostvars)
    members = _members(groups, "redis")
    if not members:
        return {}
    port = int(_var(hostvars, members[0], "redis_ha_sentinel_port", SENTINEL_PORT))
    return {"sentinels": [{"host": address, "port": port}
                          for address in member_addresses(members, hostvars, "redis_ha_address")],
            "master_name": str(_var(hostvars, members[0], "redis_ha_master_name",
                                    REDIS_MASTER_NAME))}


class FilterModule:
    def filters(self):
        return {"fleet_sites": fleet_sites, "fleet_registries": fleet_registries,
                "fleet_registry_logins": fleet_registry_logins,
                "registry_password_file": password_file, "member_addresses": member_addresses,
                "fleet_postgresql": fleet_postgresql, "fleet_redis": fleet_redis}
