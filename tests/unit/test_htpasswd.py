"""The htpasswd filter on real bcrypt: an unchanged user list keeps its hashes (no change,
no registry swap), a changed password or a changed cost is hashed again, and a cost bcrypt
would refuse is named before anything is written."""

from __future__ import annotations

import bcrypt
import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.dockhand.docker.plugins.filter.registry import htpasswd


def digests(text: str) -> dict[str, str]:
    return dict(line.split(":", 1) for line in text.splitlines())


def cost(digest: str) -> int:
    return int(digest.split("$")[2])


def test_a_new_file_hashes_each_user_at_its_cost():
    text = htpasswd([{"name": "ci", "password": "given"},
                     {"name": "gen", "password": "generated", "bcrypt_cost": 5}], "", "users", 6)
    got = digests(text)
    assert list(got) == ["ci", "gen"] and text.endswith("\n")
    assert cost(got["ci"]) == 6 and cost(got["gen"]) == 5
    assert bcrypt.checkpw(b"given", got["ci"].encode())
    assert bcrypt.checkpw(b"generated", got["gen"].encode())


@pytest.mark.parametrize(("user", "kept"), [
    ({"name": "ci", "password": "pw"}, True),
    ({"name": "ci", "password": "another"}, False),
    ({"name": "ci", "password": "pw", "bcrypt_cost": 5}, False),
    ({"name": "ci", "password": "pw", "bcrypt_cost": "4"}, True),
])
def test_a_hash_is_kept_only_for_the_same_password_at_the_same_cost(user, kept):
    existing = htpasswd([{"name": "ci", "password": "pw"}], "", "users", 4)
    again = htpasswd([user], existing, "users", 4)
    assert (again == existing) is kept
    assert bcrypt.checkpw(user["password"].encode(), digests(again)["ci"].encode())
    assert cost(digests(again)["ci"]) == int(user.get("bcrypt_cost", 4))


def test_a_line_that_is_no_bcrypt_hash_is_replaced():
    text = htpasswd([{"name": "ci", "password": "pw"}], "ci:{SHA}notbcrypt\n", "users", 4)
    assert bcrypt.checkpw(b"pw", digests(text)["ci"].encode())


@pytest.mark.parametrize("bad", [3, 32, "ten", "1_0", " 10", "+10", 10.0, True, None])
def test_a_cost_bcrypt_refuses_is_named(bad):
    with pytest.raises(AnsibleFilterError, match=r"^docker_registry_bcrypt_cost: the bcrypt cost"):
        htpasswd([{"name": "ci", "password": "pw"}], "", "docker_registry_users", bad,
                 "docker_registry_bcrypt_cost")
    named = r"^docker_registry_users\[0\] \(ci\): the bcrypt cost"
    with pytest.raises(AnsibleFilterError, match=named):
        htpasswd([{"name": "ci", "password": "pw", "bcrypt_cost": bad}], "",
                 "docker_registry_users", 10, "docker_registry_bcrypt_cost")
