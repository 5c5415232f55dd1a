"""What docker_engine installs, decided on the controller from its package query's lines
(the engine_package_plan filter): dpkg's and rpm's formats, pinned versions, held and
half-installed packages, and the service's state."""

from __future__ import annotations

import pytest
from ansible_collections.dockhand.docker.plugins.filter.engine import engine_package_plan

DISTRO = ["docker.io"]
ENGINES = ["docker-ce", "docker.io", "moby-engine"]


@pytest.mark.parametrize(("lines", "packages", "specs", "sep", "want"), [
    # A fresh Debian host: nothing installed, the service unknown.
    (["service  "], DISTRO, DISTRO, "=",
     {"missing": DISTRO, "fresh": True, "engine_missing": True, "service": ["", ""]}),
    # Installed and running; a held package counts as installed.
    (["docker.io 20.10.24+dfsg1-1+b3 ii ", "runc 1.1.5 hi ", "service enabled active"],
     [*DISTRO, "runc"], DISTRO, "=",
     {"missing": [], "fresh": False, "engine_missing": False, "service": ["enabled", "active"]}),
    # Half-installed (iU) is not installed; the pinned version is what is compared.
    (["docker.io 20.10.24 iU ", "service disabled inactive"], ["docker.io=20.10.24"],
     ["docker.io=20.10.24"], "=",
     {"missing": ["docker.io=20.10.24"], "fresh": True, "engine_missing": True,
      "service": ["disabled", "inactive"]}),
    # Another version installed: the engine's spec is missing, the engine is not new.
    (["docker.io 20.10.24 ii "], ["docker.io=24.0.0", "extra"], ["docker.io=24.0.0"], "=",
     {"missing": ["docker.io=24.0.0", "extra"], "fresh": False, "engine_missing": True,
      "service": []}),
    # rpm prints "(none):" for a package without an epoch, and keeps a real one.
    (["docker-ce (none):24.0.7-1.el9 ii", "containerd.io 0:1.6.0-1 ii"],
     ["docker-ce-24.0.7-1.el9", "containerd.io-0:1.6.0-1"], ["docker-ce-24.0.7-1.el9"], "-",
     {"missing": [], "fresh": False, "engine_missing": False, "service": []}),
    # Only an extra package is missing: the engine itself is there.
    (["docker-ce 5:24.0.7 ii ", "service enabled active"], ["docker-ce", "docker-compose-plugin"],
     ["docker-ce"], "=",
     {"missing": ["docker-compose-plugin"], "fresh": False, "engine_missing": False,
      "service": ["enabled", "active"]}),
])
def test_the_plan_follows_from_the_query(lines, packages, specs, sep, want):
    assert engine_package_plan(lines, packages, specs, ENGINES, sep) == want
