"""Drive ansible-playbook against the running lab and look at the hosts directly.

The lab is brought up by `make integration` (python -m lab up); these tests converge it
themselves, so they also run on a lab that has never seen site.yml.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
INVENTORY = ROOT / "inventory" / "lab"
SITE = ROOT / "playbooks" / "site.yml"
RECAP = re.compile(
    r"^(?P<host>\S+)\s+:\s+ok=(?P<ok>\d+)\s+changed=(?P<changed>\d+)\s+unreachable=(?P<unreachable>\d+)"
    r"\s+failed=(?P<failed>\d+)",
    re.MULTILINE,
)


@dataclass
class Run:
    rc: int
    output: str
    recap: dict[str, dict[str, int]]

    def total(self, field: str) -> int:
        return sum(host[field] for host in self.recap.values())


def run_playbook(*args: str, playbook: Path = SITE, timeout: int = 1200,
                 inventory: Path = INVENTORY) -> Run:
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_FORCE_COLOR="0",
               ANSIBLE_NOCOLOR="1")
    proc = subprocess.run(
        ["ansible-playbook", "-i", str(inventory), str(playbook), *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False,
    )
    output = proc.stdout + proc.stderr
    recap = {
        m["host"]: {k: int(v) for k, v in m.groupdict().items() if k != "host"}
        for m in RECAP.finditer(output)
    }
    return Run(proc.returncode, output, recap)


def lab_hosts(group: str = "docker_hosts") -> list[str]:
    hosts = yaml.safe_load((INVENTORY / "hosts.yml").read_text())
    return sorted((hosts["all"]["children"].get(group) or {}).get("hosts") or {})


def on_host(host: str, *cmd: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run a command inside a lab host directly, independent of Ansible."""
    return subprocess.run(["docker", "exec", f"dockhand-lab-{host}", *cmd],
                          capture_output=True, text=True, check=check, timeout=120)


def file_digest(host: str, path: str) -> str:
    proc = on_host(host, "cat", path, check=False)
    return hashlib.sha256(proc.stdout.encode()).hexdigest() if proc.returncode == 0 else "absent"


def lab_group_vars() -> dict:
    return yaml.safe_load((INVENTORY / "group_vars" / "all.yml").read_text())
