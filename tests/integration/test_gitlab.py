"""GitLab behind the front door. Its image cannot be fetched here, so the stack runs the lab's
probe in its place (same volumes, placement and proxy route) and the tests read the
gitlab.rb and config.toml the role renders for the real one."""

from __future__ import annotations

import json
import re
import tomllib

import pytest
from labtools import file_digest, lab_vault, on_host, run_playbook
from registrytools import PKI

pytestmark = pytest.mark.lab

GITLAB = "gitlab.dockhand.test"
RB = "/srv/gitlab/config/gitlab.rb"
TOML = "/srv/gitlab/runner/config.toml"
_SETTING = re.compile(r"^(?P<key>[a-z_]+(?:\['[a-z_]+'\])?)\s*(?:=\s*|\s)(?P<value>.+)$")


def gitlab_rb(host: str) -> dict[str, str]:
    """The one-line settings of gitlab.rb: `key['name'] = value` and `external_url 'x'`."""
    settings = {}
    for line in on_host(host, "cat", RB).stdout.splitlines():
        match = _SETTING.match(line.strip())
        if match and not line.startswith("#"):
            settings[match["key"]] = match["value"].strip()
    return settings


def gitlab_host(hosts: list[str]) -> str:
    return hosts[1]  # the lab's `gitlab` group


def test_gitlab_rb_says_what_the_inventory_asks(converged, hosts):
    rb = gitlab_rb(gitlab_host(hosts))
    assert rb["external_url"] == f"'https://{GITLAB}'"
    assert rb["registry_external_url"] == "'https://gitlab-registry.dockhand.test'"
    assert rb["gitlab_rails['registry_enabled']"] == "true"
    # Plain HTTP behind the proxy, which it trusts for the client's address and scheme.
    assert rb["nginx['listen_port']"] == "80"
    assert rb["nginx['listen_https']"] == "false"
    assert json.loads(rb["nginx['real_ip_trusted_addresses']"]) == ["172.29.77.0/24"]
    assert json.loads(rb["gitlab_rails['trusted_proxies']"]) == ["172.29.77.0/24"]
    assert rb["gitlab_rails['gitlab_shell_ssh_port']"] == "2222"
    assert rb["gitlab_rails['smtp_enable']"] == "true"
    assert rb["gitlab_rails['smtp_address']"] == "'smtp.dockhand.test'"
    assert rb["gitlab_rails['backup_path']"] == "'/var/opt/gitlab/backups'"
    # The data tier's PostgreSQL (the postgresql group): its endpoint on every member,
    # verified with its CA, with the vault's password, which postgresql_ha gave GitLab's user.
    assert rb["postgresql['enable']"] == "false"
    assert rb["gitlab_rails['db_host']"] == "'172.29.77.11,172.29.77.12,172.29.77.13'"
    assert rb["gitlab_rails['db_port']"] == "5433"
    assert rb["gitlab_rails['db_username']"] == "'gitlab'"
    assert rb["gitlab_rails['db_database']"] == "'gitlabhq_production'"
    password = lab_vault()["vault_gitlab_postgresql_password"]
    assert rb["gitlab_rails['db_password']"] == f"'{password}'"
    assert rb["gitlab_rails['db_sslmode']"] == "'verify-full'"
    assert rb["gitlab_rails['db_sslrootcert']"] == "'/etc/gitlab/trusted-certs/postgresql-ca.crt'"
    ca = on_host(gitlab_host(hosts), "cat", "/srv/gitlab/config/trusted-certs/postgresql-ca.crt")
    assert ca.stdout == (PKI / "data-ca.crt").read_text()
    # The data tier's Redis, through its Sentinels on every member, TLS with its CA.
    assert rb["redis['enable']"] == "false"
    assert rb["redis['master_name']"] == "'dockhand'"
    assert rb["redis['master_password']"] == f"'{lab_vault()['vault_gitlab_redis_password']}'"
    assert rb["gitlab_rails['redis_sentinels']"] == "[" + ", ".join(
        f"{{'host' => '172.29.77.1{i}', 'port' => 26379}}" for i in (1, 2, 3)) + "]"
    sentinel_password = (PKI / "redis-sentinel.password").read_text().strip()
    assert rb["gitlab_rails['redis_sentinels_password']"] == f"'{sentinel_password}'"
    assert rb["gitlab_rails['redis_ssl']"] == "true"
    assert rb["gitlab_rails['redis_sentinels_ssl']"] == "true"
    ca_file = "'/etc/gitlab/trusted-certs/redis-ca.crt'"
    assert rb["gitlab_rails['redis_tls_ca_cert_file']"] == ca_file
    assert "gitlab_rails['redis_host']" not in rb
    # It holds the passwords: only the container's user reads it (the stand-in's).
    assert on_host(gitlab_host(hosts), "stat", "-c", "%a %u", RB).stdout.split() == ["600", "65534"]


def test_runner_config_uses_the_authentication_token_flow(converged, hosts):
    host = gitlab_host(hosts)
    config = tomllib.loads(on_host(host, "cat", TOML).stdout)
    runner = config["runners"][0]
    assert runner["url"] == f"https://{GITLAB}"
    assert runner["token"].startswith("glrt-")
    assert runner["executor"] == "docker"
    assert runner["docker"]["image"]
    assert runner["tls-ca-file"] == "/etc/gitlab-runner/certs/ca.crt"
    ca = on_host(host, "cat", "/srv/gitlab/runner/certs/ca.crt").stdout
    assert ca == (PKI / "ca.crt").read_text()
    assert on_host(host, "stat", "-c", "%a", TOML).stdout.strip() == "600"


def test_the_stand_in_runs_on_its_node_with_gitlabs_volumes(converged, hosts):
    host = gitlab_host(hosts)
    tasks = on_host("node1", "docker", "service", "ps", "--format", "{{.Node}} {{.CurrentState}}",
                    "--filter", "desired-state=running", "gitlab_gitlab").stdout.split("\n")
    assert tasks[0].startswith(f"{host} Running"), tasks
    container = on_host(host, "docker", "ps", "-q", "--filter",
                        "label=com.docker.swarm.service.name=gitlab_gitlab").stdout.strip()
    assert on_host(host, "docker", "exec", container, "test", "-f", "/etc/gitlab/gitlab.rb",
                   check=False).returncode == 0
    mounts = json.loads(on_host(host, "docker", "inspect", "-f", "{{json .Mounts}}",
                                container).stdout)
    assert {m["Destination"] for m in mounts} >= {
        "/etc/gitlab", "/var/log/gitlab", "/var/opt/gitlab", "/var/opt/gitlab/backups"}
    # Traefik's swarm provider routes it by these labels, keyed by the stack's name.
    labels = json.loads(on_host("node1", "docker", "service", "inspect", "-f",
                                "{{json .Spec.Labels}}", "gitlab_gitlab").stdout)
    assert labels["traefik.http.routers.gitlab.rule"] == f"Host(`{GITLAB}`)", labels
    assert not [key for key in labels if "{" in key], labels
    # A new gitlab.rb rolls the task: the label is the file's digest.
    digest = on_host(host, "sha1sum", "/srv/gitlab/config/gitlab.rb").stdout.split()[0]
    container_labels = json.loads(on_host("node1", "docker", "service", "inspect", "-f",
                                          "{{json .Spec.TaskTemplate.ContainerSpec.Labels}}",
                                          "gitlab_gitlab").stdout)
    assert container_labels["dockhand.gitlab.config"] == digest


def test_gitlab_answers_through_the_front_door_and_writes_to_the_data_tier(converged, hosts):
    """Every request through the front door commits a row to PostgreSQL through the data
    tier's endpoint (verify-full) and increments a counter on the Redis primary its Sentinels
    name (TLS), as GitLab would; the stand-in answers with its hostname, the row's number and
    the counter, so each host's answer is later than the one before."""
    rows, counters = [], []
    for host in hosts:
        body = on_host(host, "curl", "-fsS", "--cacert",
                       f"/etc/docker/certs.d/{GITLAB}/ca.crt", f"https://{GITLAB}/").stdout
        name, row_word, row, counter_word, counter = body.split()
        assert (name, row_word, counter_word) == (GITLAB, "row", "counter"), body
        rows.append(int(row))
        counters.append(int(counter))
    assert rows == sorted(set(rows)), rows
    assert counters == sorted(set(counters)), counters
    password = lab_vault()["vault_gitlab_postgresql_password"]
    wanted = ",".join(map(str, rows))
    stored = on_host("node1", "env", f"PGPASSWORD={password}", "psql", "-XAt", "-c",
                     f"SELECT count(*) FROM stand_in_requests WHERE n IN ({wanted})",
                     "host=127.0.0.1 port=5433 dbname=gitlabhq_production user=gitlab"
                     " sslmode=verify-full sslrootcert=/etc/patroni/tls/ca.crt"
                     " target_session_attrs=read-write")
    assert int(stored.stdout) == len(rows)


def test_a_registration_token_is_refused_before_any_change(converged, hosts):
    before = file_digest(gitlab_host(hosts), TOML)
    run = run_playbook("--tags", "gitlab", "-e", "gitlab_runner_token=GR1348941oldstyle")
    assert run.rc != 0
    assert "gitlab_runner_token must be a runner authentication token" in " ".join(
        run.output.split())
    assert run.total("changed") == 0
    assert file_digest(gitlab_host(hosts), TOML) == before
