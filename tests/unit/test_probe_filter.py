"""The raw probes' "field value" lines, read on the controller."""

from __future__ import annotations

import pytest
from ansible_collections.dockhand.docker.plugins.filter.probe import probe_field

NGINX = ["package ii", "service enabled active"]


@pytest.mark.parametrize(
    ("lines", "field", "expected"),
    [
        (NGINX, "package", "ii"),
        (NGINX, "service", "enabled active"),
        # Not installed: dpkg-query and systemctl printed nothing after the field name.
        (["package ", "service  inactive"], "package", ""),
        (["package ", "service  inactive"], "service", " inactive"),
        # A field that is a prefix of another is not confused with it.
        (["fstab-file 644 root root", "fstab a:/v /mnt glusterfs defaults 0 0"], "fstab",
         "a:/v /mnt glusterfs defaults 0 0"),
        (["fstab-file 644 root root"], "fstab-file", "644 root root"),
        (["mount"], "mount", ""),
        # The first line of a field counts.
        (["mount a:/v", "mount b:/v"], "mount", "a:/v"),
        (NGINX, "mount", ""),
        (None, "package", ""),
    ],
)
def test_probe_field(lines, field, expected):
    assert probe_field(lines, field) == expected
