# Copyright (c) dockhand contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Options every module that talks to the Engine API over its unix socket shares."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  socket:
    description: Path of the Docker daemon's unix socket.
    type: path
    default: /var/run/docker.sock
"""
