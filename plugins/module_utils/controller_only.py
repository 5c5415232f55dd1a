# Copyright (c) dockhand contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""For the documentation stubs of action plugins: run on a host, they only say so."""

from __future__ import annotations

import json
import sys


def refuse(name: str) -> None:
    print(json.dumps({"failed": True,
                      "msg": f"dockhand.docker.{name} runs on the controller as an action "
                             "plugin; it cannot run as a module on a host"}))
    sys.exit(1)
