"""Drive ansible-playbook against the running lab and look at the hosts directly.

The lab is brought up by `make integration` (python -m lab up); these tests converge it
themselves, so they also run on a lab that has never seen site.yml.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import yaml
from ansible.parsing.vault import VaultLib, VaultSecret, is_encrypted

ROOT = Path(__file__).resolve().parents[2]
INVENTORY = ROOT / "inventory" / "lab"
PKI = ROOT / "inventory" / "lab-pki"
SITE = ROOT / "playbooks" / "site.yml"
VAULT_PASSWORD = ROOT / ".lab" / "vault-password"
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

    def failures(self) -> str:
        """Each failed task's report (its task line and what follows, up to the next task),
        else the output's end: what a failed run's assertion shows."""
        parts = [part for part in re.split(r"\n(?=TASK \[)", self.output)
                 if re.search(r"^fatal: ", part, re.MULTILINE)]
        return "\n".join(part[:3000] for part in parts) or self.output[-3000:]


def ansible_env() -> dict[str, str]:
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_FORCE_COLOR="0",
               ANSIBLE_NOCOLOR="1")
    # The lab inventory's vault.yml is encrypted with the lab's vault password.
    env.setdefault("ANSIBLE_VAULT_PASSWORD_FILE", str(VAULT_PASSWORD))
    return env


# What a whole site.yml would still change, as far as the runs so far tell: the scopes that a
# run changed and no plain run (the inventory's own values) of the same or a wider scope has put
# back since. A scope is a playbook that applies site.yml's roles with site.yml's values, with
# the run's --tags and --limit; EVERYTHING is a change that no scoped run is known to undo (a
# rebuilt node, a run of another playbook, a run with options this does not read).
EVERYTHING = ("everything",)
_DIRTY: set[tuple] = {EVERYTHING}
# podman.yml is site.yml's Podman play on its own.
RESTORING = {SITE, ROOT / "playbooks" / "podman.yml"}
_FLAGS = {"--check", "-C", "--diff", "-D"}
# site.yml's roles all run, whatever its record of the last converged run says.
FULL_RUN = ("-e", "dockhand_full_run=true")


def _scope(playbook: Path, args: tuple[str, ...]) -> tuple[tuple, bool]:
    """(scope, plain) of a run: its playbook, --tags and --limit (EVERYTHING when the run
    has an option this does not read), and whether it used the inventory's values only."""
    tags = limit = None
    plain, known = True, playbook in RESTORING
    rest = iter(args)
    for arg in rest:
        # ansible-playbook joins a repeated --tags or --limit: not read here.
        if arg in ("--tags", "-t"):
            known = known and tags is None
            tags = next(rest)
        elif arg in ("--limit", "-l"):
            known = known and limit is None
            limit = next(rest)
        elif arg in ("-e", "--extra-vars"):
            # Running every role asks nothing else of the hosts. The value is consumed
            # whatever came before: read as an option, it would make the scope EVERYTHING.
            value = next(rest)
            plain = plain and value == FULL_RUN[1]
        elif arg not in _FLAGS and not re.fullmatch(r"-v+", arg):
            plain = known = False
    return ((playbook, tags, limit) if known else EVERYTHING), plain


def _covers(wide: tuple, narrow: tuple) -> bool:
    """Whether a plain run of scope `wide` puts back what a run of `narrow` changed: the
    same playbook, and each of --tags and --limit either absent or the same."""
    if EVERYTHING in (wide, narrow):
        return False
    return wide[0] == narrow[0] and all(
        w is None or w == n for w, n in zip(wide[1:], narrow[1:], strict=True))


def _track(playbook: Path, args: tuple[str, ...], run: Run) -> None:
    if "--check" in args or "-C" in args:
        return
    scope, plain = _scope(playbook, args)
    if plain and run.rc == 0 and scope != EVERYTHING:
        if scope == (SITE, None, None):
            _DIRTY.clear()
        else:
            _DIRTY.difference_update({dirty for dirty in _DIRTY if _covers(scope, dirty)})
    # A run refused in site.yml's first play (the bad-input tests), where nothing but checks
    # runs, changed nothing. After it a failed task may have changed something and reported
    # only that it failed.
    elif not (run.recap and run.total("changed") == 0
              and (run.rc == 0 or run.output.count("\nPLAY [") == 1)):
        _DIRTY.add(scope)


def changed_by_hand(playbook: Path | None = None, *args: str) -> None:
    """A test changed the lab outside Ansible (stopped a service, restarted a host): what the
    runs of `playbook` with `args` (--tags, --limit) put back, or anything."""
    _DIRTY.add(_scope(playbook, args)[0] if playbook else EVERYTHING)


# Every ansible-playbook run of the suite: (test, what ran, seconds), for the summary of where
# the suite's time goes (conftest.py).
RUNS: list[tuple[str, str, float]] = []
# Why each converge() between modules ran a whole site.yml: the scopes left changed.
RECONVERGED: list[list[str]] = []


def _what_ran(playbook: Path, args: tuple[str, ...], inventory: Path) -> str:
    """A run's playbook and how it ran, as the summary groups runs: the values of -e are
    left out (they differ from run to run), what they asked for is not."""
    words = [playbook.name if inventory == INVENTORY else f"{playbook.name} (other inventory)"]
    rest = iter(args)
    for arg in rest:
        if arg in ("-e", "--extra-vars"):
            words.append("every role" if next(rest) == FULL_RUN[1] else "-e ...")
        elif arg in ("--tags", "-t", "--limit", "-l"):
            words.append(f"{arg} {next(rest)}")
        else:
            words.append(arg)
    return " ".join(dict.fromkeys(words))


def run_playbook(*args: str, playbook: Path = SITE, timeout: int = 1200,
                 inventory: Path = INVENTORY, own: bool = False) -> Run:
    """ansible-playbook on the lab. `own`: the run only removes what the test itself made
    (units of its own), nothing a playbook of the project manages, so the lab stays as
    converged as it was; any other run is tracked for what it may have changed."""
    start = time.monotonic()
    test = os.environ.get("PYTEST_CURRENT_TEST", "").split(" ")[0]
    try:
        proc = subprocess.run(
            ["ansible-playbook", "-i", str(inventory), str(playbook), *args],
            cwd=ROOT, env=ansible_env(), capture_output=True, text=True, timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        # Stopped anywhere: what it changed is not known.
        _DIRTY.add(EVERYTHING)
        raise
    finally:
        RUNS.append((test, _what_ran(playbook, args, inventory), time.monotonic() - start))
    output = proc.stdout + proc.stderr
    recap = {
        m["host"]: {k: int(v) for k, v in m.groupdict().items() if k != "host"}
        for m in RECAP.finditer(output)
    }
    run = Run(proc.returncode, output, recap)
    if not (own and run.rc == 0):
        _track(playbook if inventory == INVENTORY else Path("other inventory"), args, run)
    return run


def converge() -> None:
    """site.yml on the whole lab, unless the runs since the last one that succeeded have put
    back what they changed (a test that changes the lab by other means says so with lab() or
    changed_by_hand())."""
    if _DIRTY:
        # For the summary of the suite's runs: what made this one necessary.
        RECONVERGED.append(sorted(" ".join(part.name if isinstance(part, Path) else part
                                           for part in scope if part) for scope in _DIRTY))
        # Every role: a test may have changed what the hosts' records do not watch (a stack
        # of its own playbook's).
        run = run_playbook(*FULL_RUN)
        assert run.rc == 0, run.output[-4000:]


def lab(*args: str, limit: str | None = None) -> None:
    """python -m lab (up, rebuild a node, ...): the lab is not converged afterwards, or only
    the hosts of `limit` are not (`up` starting a node that was stopped)."""
    changed_by_hand(*((SITE, "--limit", limit) if limit else ()))
    subprocess.run([sys.executable, "-m", "lab", *args], cwd=ROOT, check=True,
                   capture_output=True, timeout=900)


def lab_hosts(group: str = "docker_hosts") -> list[str]:
    hosts = yaml.safe_load((INVENTORY / "hosts.yml").read_text())
    return sorted((hosts["all"]["children"].get(group) or {}).get("hosts") or {})


class HostCommandError(subprocess.CalledProcessError):
    """A failed check of on_host, which says what the command said: a test's failure then
    shows why (a push's registry error), not only the exit status."""

    def __str__(self) -> str:
        said = [f"{name}: {text.strip()[-1500:]}" for name, text in
                (("stdout", self.stdout), ("stderr", self.stderr)) if text and text.strip()]
        return "\n".join([super().__str__(), *said])


def on_host(host: str, *cmd: str, check: bool = True, timeout: int = 120,
            stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run a command inside a lab host directly, independent of Ansible; `stdin` is how a
    secret reaches it (a command line shows in `ps` and in the error of a failed check)."""
    interactive = [] if stdin is None else ["-i"]
    done = subprocess.run(["docker", "exec", *interactive, f"dockhand-lab-{host}", *cmd],
                          input=stdin, capture_output=True, text=True, check=False,
                          timeout=timeout)
    if check and done.returncode != 0:
        raise HostCommandError(done.returncode, done.args, done.stdout, done.stderr)
    return done


def put_file(host: str, source: Path, dest: str) -> None:
    """Copy a controller file into a lab host as a process inside it writes it: `docker cp`
    writes below a mount such as Debian 13's tmpfs /tmp, where the host never sees it."""
    on_host(host, "sh", "-c", f"cat > {dest}", stdin=source.read_text())


def age_package_lists(hosts: list[str]) -> None:
    """Make the hosts' apt lists two hours old, as on a lab converged long ago: what apt's
    cache_valid_time reads (the periodic stamp, else the lists directory)."""
    for host in hosts:
        on_host(host, "sh", "-c", "touch -d '2 hours ago' /var/lib/apt/lists; "
                "[ ! -e /var/lib/apt/periodic/update-success-stamp ] || "
                "touch -d '2 hours ago' /var/lib/apt/periodic/update-success-stamp")


def file_digest(host: str, path: str) -> str:
    proc = on_host(host, "cat", path, check=False)
    return hashlib.sha256(proc.stdout.encode()).hexdigest() if proc.returncode == 0 else "absent"


def role_default(role: str, name: str):
    """A role's default, for a setting the lab inventory leaves to the role."""
    return yaml.safe_load((ROOT / "roles" / role / "defaults" / "main.yml").read_text())[name]


def lab_group_vars() -> dict:
    """The lab's plain group variables: the example's group_vars/all/main.yml (copied by
    `python -m lab up`) under the lab's changes (group_vars/lab.yml)."""
    copied = yaml.safe_load((INVENTORY / "group_vars" / "all" / "main.yml").read_text())
    return {**copied, **yaml.safe_load((INVENTORY / "group_vars" / "lab.yml").read_text())}


def _vault() -> VaultLib:
    return VaultLib([("default", VaultSecret(VAULT_PASSWORD.read_bytes().strip()))])


def lab_vault() -> dict:
    data = (INVENTORY / "group_vars" / "all" / "vault.yml").read_bytes()
    assert is_encrypted(data)
    return yaml.safe_load(_vault().decrypt(data))


def run_secrets() -> dict[str, str]:
    """Every secret a run handles, by a name that may be printed."""
    found = {f"pki/{p.name}": p.read_text().strip()
             for p in [*PKI.glob("*.password"), PKI / "registry-http-secret"]}
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
