"""Import paths for the unit tests, so nothing has to be installed first."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# collections/ makes the collection importable as ansible_collections.dockhand.docker; the
# repository root holds the lab package, which `pytest` (unlike `python -m pytest`) leaves out.
for path in (ROOT / "collections", ROOT):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))
