"""An operator's first day: the lab converges inventory/example as an operator copies it
(`python -m lab up` copies its group_vars/all, fills in the vault and encrypts it with the
lab's vault password, and writes the lab's host addresses), with only what the lab cannot
share with a real site in group_vars/lab.yml. Every lab test therefore runs the example; the
pulls through the front door on every host are test_proxy's. Here: that the copy is faithful,
that a second run changes nothing, and that a -vvv run prints no secret."""

from __future__ import annotations

import re

import pytest
import yaml
from ansible.parsing.vault import VaultLib, VaultSecret, is_encrypted
from labtools import (
    INVENTORY,
    ROOT,
    VAULT_PASSWORD,
    age_package_lists,
    lab_hosts,
    run_playbook,
)
from registrytools import PKI

pytestmark = pytest.mark.lab

EXAMPLE = ROOT / "inventory" / "example"
# What the lab changes, and why (group_vars/lab.yml says the same, key by key): the names
# (no DNS here), the engine source it reaches, its network, the images and binaries it builds
# because nothing can be pulled, GitLab's stand-in, a kernel without IPVS, its node labels.
LAB_CHANGES = {
    "docker_registry_name", "gitlab_external_url", "gitlab_registry_external_url",
    "registry_ha_name",
    "docker_engine_source",
    "docker_daemon_options", "docker_swarm_default_addr_pool", "gitlab_trusted_proxies",
    "docker_registry_image", "docker_registry_binary", "docker_registry_healthcheck_test",
    "docker_registry_preload_images", "proxy_traefik_binary_src", "proxy_traefik_image",
    "proxy_traefik_image_archive",
    "gitlab_stand_in_image", "gitlab_stand_in_port", "gitlab_smtp_enabled",
    "gitlab_smtp_address", "gitlab_smtp_domain",
    "docker_swarm_publish_mode", "docker_swarm_endpoint_mode",
    "docker_registry_service_publish_mode",
    "docker_swarm_labels",
}


def _vault() -> VaultLib:
    return VaultLib([("default", VaultSecret(VAULT_PASSWORD.read_bytes().strip()))])


def lab_vault() -> dict:
    data = (INVENTORY / "group_vars" / "all" / "vault.yml").read_bytes()
    assert is_encrypted(data)
    return yaml.safe_load(_vault().decrypt(data))


def test_the_lab_converges_a_faithful_copy_of_the_example(converged):
    copied = INVENTORY / "group_vars" / "all"
    assert (copied / "main.yml").read_bytes() == (EXAMPLE / "group_vars/all/main.yml").read_bytes()
    example_vault = yaml.safe_load((EXAMPLE / "group_vars/all/vault.yml").read_text())
    assert set(lab_vault()) == set(example_vault)
    assert set(yaml.safe_load((INVENTORY / "group_vars" / "lab.yml").read_text())) == LAB_CHANGES
    example_groups = yaml.safe_load((EXAMPLE / "hosts.yml").read_text())["all"]["children"]
    lab_groups = yaml.safe_load((INVENTORY / "hosts.yml").read_text())["all"]["children"]
    assert set(example_groups) <= set(lab_groups)
    # Names and secrets, not Jinja over the groups: the roles derive that.
    for path in [*EXAMPLE.rglob("*.yml"), INVENTORY / "group_vars" / "lab.yml"]:
        assert not re.search(r"groups\[|hostvars", path.read_text()), path


def _secrets() -> dict[str, str]:
    """Every secret a run handles, by a name that may be printed."""
    found = {f"pki/{p.name}": p.read_text().strip()
             for p in [*PKI.glob("registry-*.password"), PKI / "registry-http-secret"]}
    for name, value in lab_vault().items():
        if isinstance(value, str) and value:
            found[f"vault/{name}"] = value
    # Key material: each base64 line of every private key's body, but for lines that are
    # public too (an EC key's last line is its public point, which a certificate may carry
    # at the same base64 alignment).
    public = "".join(cert.read_text() for cert in [*PKI.glob("*.crt"), *PKI.glob("*.pem")])
    for key in PKI.glob("*.key"):
        for number, line in enumerate(key.read_text().splitlines()):
            if line and not line.startswith("-----") and line not in public:
                found[f"pki/{key.name} line {number}"] = line
    return found


def test_a_second_run_at_vvv_changes_nothing_and_prints_no_secret(converged, hosts):
    # Also on a lab converged long ago: refreshing old package lists is no change.
    age_package_lists(lab_hosts("lab"))
    run = run_playbook("-vvv")
    assert run.rc == 0, run.output[-4000:]
    assert run.total("changed") == 0, "\n".join(
        line for line in run.output.splitlines() if line.startswith("changed:"))[:3000]
    assert set(run.recap) == set(lab_hosts("lab"))
    secrets = _secrets()
    assert len([n for n in secrets if n.startswith("vault/")]) >= 4
    assert any(n.startswith("pki/registry-dockhand") for n in secrets)
    leaked = sorted(name for name, value in secrets.items() if value in run.output)
    assert not leaked, f"printed at -vvv: {leaked}"
