# Copyright (c) dockhand contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Python packages beyond ansible-core that the plugins need on the controller
(requirements.txt at the collection's root), and the one message for a missing one.

A plugin file that fails to import is dropped whole: ansible then reports a filter of it as
unknown, and nothing names the package. So the plugins import these packages where they use
them, through here, and a Galaxy or AWX/AAP install without them loads every plugin; only
what needs the package fails, saying what to install. Standard library only, so that the
Ansible-free module_utils can use it as well.
"""

from __future__ import annotations

import importlib
import os

# The collection's root is three levels up: plugins/module_utils/<this file>.
REQUIREMENTS = os.path.join(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
    "requirements.txt")


def missing(package: str, cause: BaseException | None = None) -> str:
    """Why ``package`` is needed and how to install it, for an error message."""
    message = (f"dockhand.docker needs the Python package '{package}' on the controller, in "
               f"the Python that runs ansible: pip install -r {REQUIREMENTS} "
               f"(or pip install {package}); ansible-builder installs that file into an "
               "execution environment")
    # An installed package that fails to import (a wheel for another Python, a missing
    # shared library) must not read as a package that is simply absent.
    if cause is not None and getattr(cause, "name", None) != package:
        message += f". Importing it failed: {cause}"
    return message


def require(module: str, error: type[Exception] = ImportError):
    """``module``, imported; ``error`` with the install hint when it cannot be."""
    package = module.partition(".")[0]
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise error(missing(package, exc)) from exc
