"""host_state: files as slurp returns them and units' states, read in one call."""

from __future__ import annotations

import base64

import pytest
from ansible_collections.dockhand.docker.plugins.module_utils.host_state import (
    parse_show,
    show_argv,
)
from moduletools import run_module

# What systemd 252 (Debian 12) prints for an enabled service, a timer that has no unit file
# and a stopped timer.
SHOW = """UnitFileState=enabled
ActiveState=active

UnitFileState=
ActiveState=inactive

UnitFileState=disabled
ActiveState=inactive
"""


def test_units_are_matched_to_blocks_in_the_order_asked():
    units = ["route.service", "missing.timer", "gc.timer"]
    assert parse_show(units, SHOW) == {
        "route.service": {"enabled": "enabled", "active": "active"},
        "missing.timer": {"enabled": "", "active": "inactive"},
        "gc.timer": {"enabled": "disabled", "active": "inactive"},
    }
    assert show_argv("/bin/systemctl", units)[-4:] == ["--", *units]


@pytest.mark.parametrize("text", ["", "UnitFileState=enabled\nActiveState=active\n"])
def test_an_answer_for_another_number_of_units_is_an_error(text):
    with pytest.raises(ValueError, match="answered"):
        parse_show(["a.service", "b.service"], text)


def test_files_read_like_slurp_and_missing_ones_say_so(tmp_path):
    mode = tmp_path / "mode"
    mode.write_text("container\n")
    args = {"files": [str(mode), str(tmp_path / "absent")]}
    for check_mode in (True, False):
        result = run_module("host_state", args, tmp_path, check_mode=check_mode)
        assert result["changed"] is False
        assert base64.b64decode(result["files"][str(mode)]["content"]) == b"container\n"
        assert result["files"][str(tmp_path / "absent")] == {"exists": False}
        assert result["units"] == {}
