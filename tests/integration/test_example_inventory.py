"""An operator's first day: the lab converges inventory/example as an operator copies it
(`python -m lab up` copies its group_vars/all, fills in the vault and encrypts it with the
lab's vault password, and writes the lab's host addresses), with only what the lab cannot
share with a real site in group_vars/lab.yml. Every lab test therefore runs the example; the
pulls through the front door on every host are test_proxy's, the second run (changed=0, at
-vvv, printing no secret) is test_docker_engine's. Here: that the copy is faithful."""

from __future__ import annotations

import re

import pytest
import yaml
from labtools import INVENTORY, ROOT, lab_vault

pytestmark = pytest.mark.lab

EXAMPLE = ROOT / "inventory" / "example"
# What the lab changes, and why (group_vars/lab.yml says the same, key by key): the names
# (no DNS here), the engine source it reaches, its network, the images and binaries it builds
# because nothing can be pulled, GitLab's stand-in and how it is confined, a kernel without
# IPVS, its node labels, and audit rules it writes but does not load (its hosts share this
# machine's kernel).
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
    # The stand-in can be confined as the omnibus image cannot.
    "gitlab_user", "gitlab_read_only", "gitlab_tmpfs", "gitlab_cap_drop",
    "gitlab_healthcheck_test", "gitlab_memory", "gitlab_cpus", "gitlab_pids_limit",
    "docker_swarm_publish_mode", "docker_swarm_endpoint_mode",
    "docker_registry_service_publish_mode",
    "docker_swarm_labels",
    "docker_audit_load",
}


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
