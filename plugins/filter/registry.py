# Copyright (c) dockhand contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters the PKI and registry roles use in their preflight checks and for htpasswd."""

from __future__ import annotations

import os
import re

from ansible.errors import AnsibleFilterError

# module_utils are imported by the filters that use them (pyproject.toml says why).

DOCUMENTATION = """
name: registry
short_description: PKI name checks and bcrypt htpasswd for the dockhand registry roles
description:
  - C(pki_name_errors) lists what is wrong with DNS names and IP addresses meant for a
    certificate, each message naming the variable.
  - C(pki_registry_errors) lists what is wrong with registries of the shape of
    C(docker_pki_registries). That is their names, as C(pki_name_errors) finds, and ports
    outside 1 to 65535 (443 when an entry gives none). Its argument names the variable.
  - C(pki_key_errors) lists what is wrong with a key type and size.
  - C(pki_covers) tells whether SANs cover a registry name; C(pki_split_sans) splits SANs
    into DNS names and IP addresses.
  - C(pki_ca_bundle) is the PEM of the fleet's CA in a PKI directory, followed during a CA
    rotation by the next CA's, for whatever verifies certificates of either. Its argument
    names another CA (C(data-ca), whose next one is C(data-ca-next)).
  - C(pki_trust_plan) is what a host holds to trust the fleet's CA for every registry name.
    That is the certs.d directory of each name (C(<name>:<port>), C(<name>) for port 443),
    the CA in it (and the next CA while a rotation runs, whose file goes away after it), and
    the C(/etc/hosts) block of the registries that give an C(address). Its arguments are the
    certs.d root, the CA's PEM, the PKI directory (where the next CA is looked for) and
    whether C(/etc/hosts) is managed. The result holds M(dockhand.docker.host_files)'
    C(directories), C(files), C(absent) and C(blocks).
  - C(htpasswd) renders an htpasswd file with bcrypt hashes, keeping every existing hash
    whose password still matches at the wanted cost, so that an unchanged user list changes
    nothing. The cost is its third argument (default 10; the fourth names it in errors), or a
    user's own C(bcrypt_cost).
    It needs the Python package C(bcrypt) on the controller (the collection's
    C(requirements.txt)); the other filters need only the standard library.
  - C(docker_preload_needed) tells whether a C(docker save) tarball on the controller must be
    sent to a host and loaded, from M(dockhand.docker.engine_image_load)'s check-mode result
    on the host's copy. It must when that copy is missing, when an image or tag is missing on
    the host, or when the copy holds other images than the controller's tarball.
"""


def pki_name_errors(names, var_name):
    """Split ``names`` into DNS names and IPs the way the certificate will hold them."""
    from ansible_collections.dockhand.docker.plugins.module_utils import pki
    sans = pki_split_sans(names)
    return pki.validate_names(sans["dns"], sans["ip"], var_name)


def pki_registry_errors(registries, var_name):
    """What is wrong with registries meant for docker_pki_registries: their names as a
    certificate would hold them, and their ports (443 when none is given)."""
    registries = registries or []
    errors = pki_name_errors([r.get("name", "") for r in registries], var_name)
    ports = [str(r.get("port", 443)) for r in registries]
    numeric = [p for p in ports if re.fullmatch(r"[0-9]{1,5}", p)]
    bad = ([p for p in ports if p not in numeric] + [p for p in numeric if int(p) < 1]
           + [p for p in numeric if int(p) > 65535])
    if bad:
        errors.append(f"{var_name}: ports must be from 1 to 65535, not {', '.join(bad)}")
    return errors


def pki_split_sans(names):
    """{'dns': [...], 'ip': [...]}: the two kinds of SAN a certificate keeps apart."""
    from ansible_collections.dockhand.docker.plugins.module_utils import pki
    names = [str(n) for n in names or []]
    ips = [n for n in names if pki.covers(n, [], [n])]
    return {"dns": [n for n in names if n not in ips], "ip": ips}


def _ca_pem(pki_dir, name, required=True):
    """<name>.crt of the PKI directory; None for a missing one that is not required (the next
    CA outside a rotation)."""
    path = os.path.join(str(pki_dir), f"{name}.crt")
    if not required and not os.path.isfile(path):
        return None
    try:
        with open(path, encoding="ascii") as handle:
            return handle.read()
    except OSError as exc:
        raise AnsibleFilterError(f"docker_pki_dir: cannot read {path}: {exc}") from exc


def pki_ca_bundle(pki_dir, ca_name="ca"):
    """<ca>.crt, and <ca>-next.crt while a CA rotation runs: what a verifier trusts meanwhile."""
    parts = [_ca_pem(pki_dir, ca_name), _ca_pem(pki_dir, f"{ca_name}-next", required=False)]
    return "".join(p if p.endswith("\n") else p + "\n" for p in parts if p is not None)


def pki_trust_plan(registries, certs_d, ca_pem, pki_dir, manage_etc_hosts=True):
    """host_files' arguments for trusting the fleet's CA under every registry name; computed
    once per host, as the registry list it starts from is read from every host's variables."""
    next_pem = _ca_pem(pki_dir, "ca-next", required=False)
    roots = []
    for registry in registries or []:
        name = f"{registry['name']}:{registry.get('port', 443)}"
        roots.append(f"{certs_d}/{re.sub(r':443$', '', name)}")
    files = []
    for root in roots:
        files.append({"path": f"{root}/ca.crt", "mode": "0444", "content": ca_pem})
        if next_pem is not None:
            files.append({"path": f"{root}/ca-next.crt", "mode": "0444", "content": next_pem})
    lines = []
    for registry in registries or []:
        line = f"{registry.get('address')} {registry['name']}"
        if registry.get("address") and line not in lines:
            lines.append(line)
    return {
        "directories": [{"path": root} for root in roots],
        "files": files,
        "absent": [] if next_pem is not None else [f"{root}/ca-next.crt" for root in roots],
        "blocks": ([{"path": "/etc/hosts", "marker": "dockhand registry names",
                     "block": "\n".join(lines)}] if manage_etc_hosts else []),
    }


def pki_key_errors(key_type, key_size, var_name):
    from ansible_collections.dockhand.docker.plugins.module_utils import pki
    return pki.key_errors(str(key_type), int(key_size), var_name)


def pki_covers(name, sans):
    from ansible_collections.dockhand.docker.plugins.module_utils import pki
    sans = [str(s) for s in sans or []]
    return pki.covers(str(name), sans, sans)


def _bcrypt_cost(digest):
    """The cost a bcrypt digest was made with ($2b$10$...), or None for anything else."""
    parts = digest.split("$")
    return int(parts[2]) if len(parts) > 3 and parts[2].isdigit() else None


def _rounds(asked, where):
    """A bcrypt cost as an int: a whole number from 4 to 31, given as a number or as digits
    (-e gives a string); True is no cost."""
    if isinstance(asked, int) and not isinstance(asked, bool):
        rounds = asked
    elif isinstance(asked, str) and re.fullmatch(r"[0-9]+", asked):
        rounds = int(asked)
    else:
        rounds = None
    if rounds is None or not 4 <= rounds <= 31:
        raise AnsibleFilterError(
            f"{where}: the bcrypt cost must be a whole number from 4 to 31 (got {asked!r})")
    return rounds


def htpasswd(users, existing="", var_name="users", cost=10, cost_var="cost"):
    """``users``: a list of {name, password[, bcrypt_cost]}. ``existing``: the file as it is on
    the host. A hash made at another cost is made again: the cost is part of what is asked."""
    from ansible_collections.dockhand.docker.plugins.module_utils import controller_deps
    # Imported here: at the top, a controller without bcrypt would lose every filter above.
    bcrypt = controller_deps.require("bcrypt", AnsibleFilterError)
    cost = _rounds(cost, cost_var)
    current = {}
    for line in str(existing or "").splitlines():
        name, sep, digest = line.partition(":")
        if sep:
            current[name] = digest
    lines = []
    for index, user in enumerate(users or []):
        name, password = str(user.get("name", "")), str(user.get("password", ""))
        if not name or ":" in name:
            raise AnsibleFilterError(f"{var_name}[{index}]: name must be non-empty, without ':'")
        if not password:
            raise AnsibleFilterError(f"{var_name}[{index}] ({name}): the password is empty")
        rounds = _rounds(user["bcrypt_cost"], f"{var_name}[{index}] ({name})") \
            if "bcrypt_cost" in user else cost
        digest = current.get(name, "")
        try:
            still_valid = (_bcrypt_cost(digest) == rounds
                           and bcrypt.checkpw(password.encode(), digest.encode()))
        except ValueError:  # not a bcrypt hash: replace it
            still_valid = False
        if not still_valid:
            digest = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=rounds)).decode()
        lines.append(f"{name}:{digest}")
    return "\n".join(lines) + ("\n" if lines else "")


def docker_preload_needed(probe, src, var_name="docker_registry_preload_images"):
    from ansible_collections.dockhand.docker.plugins.module_utils import image_archive
    try:
        return image_archive.preload_needed(probe, src)
    except ValueError as exc:
        raise AnsibleFilterError(f"{var_name}: {exc}") from None


class FilterModule:
    def filters(self):
        return {
            "pki_name_errors": pki_name_errors,
            "pki_registry_errors": pki_registry_errors,
            "pki_key_errors": pki_key_errors,
            "pki_covers": pki_covers,
            "pki_split_sans": pki_split_sans,
            "pki_ca_bundle": pki_ca_bundle,
            "pki_trust_plan": pki_trust_plan,
            "htpasswd": htpasswd,
            "docker_preload_needed": docker_preload_needed,
        }
