"""site.yml's record of a converged run: the controller's digest of its inputs and the
host's live check of what it left, on real files."""

from __future__ import annotations

import copy
import glob
import json
import os
import subprocess
import sys
import time

import pytest
from ansible_collections.dockhand.docker.plugins.module_utils import site_digest
from ansible_collections.dockhand.docker.plugins.module_utils.site_record import (
    PROBE_SOURCE,
    fact_script,
    outdate,
    probe_namespace,
    record,
    same_record,
)

PROBE = probe_namespace()
# What the fact's program imports, which every run that skips waits for on every host.
PROBE_IMPORTS = {line.split()[1] for line in PROBE_SOURCE.splitlines()
                 if line.startswith("import ")}


@pytest.fixture
def tree(tmp_path):
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "daemon.json").write_text('{"debug": false}\n')
    (tmp_path / "etc" / "certs.d").mkdir()
    (tmp_path / "etc" / "certs.d" / "ca.crt").write_text("CA\n")
    return tmp_path


@pytest.mark.parametrize("change, found", [
    (lambda t: (t / "etc" / "daemon.json").write_text('{"debug": true}\n'), "daemon.json"),
    (lambda t: (t / "etc" / "certs.d" / "ca.crt").unlink(), "ca.crt"),
    (lambda t: os.chmod(t / "etc" / "daemon.json", 0o600), "daemon.json"),
    (lambda t: (t / "etc" / "certs.d" / "other.crt").write_text("x"), "other.crt"),
])
def test_a_file_changed_removed_or_added_under_a_watched_path_is_drift(tree, change, found):
    baseline = PROBE["probe_files"]([str(tree / "etc")])
    change(tree)
    drift = PROBE["drift"](_state(baseline), _state(PROBE["probe_files"]([str(tree / "etc")])))
    assert len(drift) == 1 and drift[0].startswith("file ") and drift[0].endswith(found)


def test_the_same_files_are_no_drift_and_a_glob_that_matches_nothing_records_nothing(tree):
    patterns = [str(tree / "etc"), str(tree / "none-*")]
    baseline = PROBE["probe_files"](patterns)
    assert str(tree / "etc" / "certs.d" / "ca.crt") in baseline
    assert not any("none-" in path for path in baseline)
    assert PROBE["drift"](_state(baseline), _state(PROBE["probe_files"](patterns))) == []


@pytest.fixture
def names(tmp_path):
    for path in ("sbin/dockhand-etcdctl", "sbin/dockhand-x-y", "sbin/other", "sbin/.dockhand-h",
                 "vols/a/info", "vols/b/info", "vols/c/other", "home/u/.config/containers/x",
                 "home/.hidden/.config/containers/y", "ab", "aXbXb"):
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text("x")
    (tmp_path / "sbin" / "dockhand-dangling").symlink_to(tmp_path / "gone")
    return tmp_path


@pytest.mark.parametrize("pattern", [
    "sbin/dockhand-*", "sbin/*", "sbin/.*", "vols/*/info", "home/*/.config/containers",
    "none-*", "none/*/info", "sbin", "sbin/dockhand-dangling", "a*b", "a*X*b", "*X*X*", "a*b*b*b",
])
def test_a_pattern_names_what_glob_would_without_importing_it(names, pattern):
    expected = sorted(glob.glob(str(names / pattern)))
    assert PROBE["expand"](str(names / pattern)) == expected
    assert "glob" not in PROBE_IMPORTS and "re" not in PROBE_IMPORTS


def _state(files=None, units=None, engine=None, mounts=None):
    return {"files": files or {}, "units": units or {}, "engine": engine, "mounts": mounts}


@pytest.mark.parametrize("before, now, drift", [
    ({"docker.service": ["active", "enabled"]}, {"docker.service": ["active", "enabled"]}, []),
    ({"docker.service": ["active", "enabled"]}, {"docker.service": ["inactive", "enabled"]},
     ["unit docker.service"]),
    ({"docker.service": ["active", "enabled"]}, {"docker.service": ["active", "disabled"]},
     ["unit docker.service"]),
    ({"docker.service": ["active", "enabled"]}, {}, ["unit docker.service"]),
    # A oneshot or a timer's service comes and goes: only enablement counts.
    ({"gc.service": ["inactive", "static"]}, {"gc.service": ["active", "static"]}, []),
])
def test_an_active_unit_must_stay_active_and_every_unit_enabled_as_it_was(before, now, drift):
    assert PROBE["drift"](_state(units=before), _state(units=now)) == drift


ENGINE = {"containers": {"registry-green": "sha256:a"}, "swarm": ["active", "n1", True],
          "services": {"gitlab_gitlab": 12}, "nodes": {"n1": ["node1", "manager", "active", {}]},
          "networks": {"gitlab": "x1"}}


@pytest.mark.parametrize("change, drift", [
    (lambda e: e["containers"].update({"other": "sha256:b"}), []),
    (lambda e: e["services"].update({"new_service": 1}), []),
    (lambda e: e["containers"].pop("registry-green"), ["container registry-green"]),
    (lambda e: e["containers"].update({"registry-green": "sha256:z"}),
     ["container registry-green"]),
    (lambda e: e.update(swarm=["inactive", "", False]), ["swarm membership"]),
    (lambda e: e["services"].update({"gitlab_gitlab": 13}), ["swarm service gitlab_gitlab"]),
    (lambda e: e["nodes"]["n1"][3].update({"fault": "drill"}), ["swarm node n1"]),
    (lambda e: e["networks"].pop("gitlab"), ["swarm network gitlab"]),
    (lambda e: e.update(error="connection refused"), ["engine"]),
])
def test_the_engine_s_containers_and_swarm_specs_as_the_run_left_them(change, drift):
    now = copy.deepcopy(ENGINE)
    change(now)
    assert PROBE["drift"](_state(engine=ENGINE), _state(engine=now)) == drift


def test_a_lost_mount_is_drift_and_a_new_one_is_not():
    before = _state(mounts=["/mnt/gluster/registry"])
    assert PROBE["drift"](before, _state(mounts=["/mnt/gluster/registry", "/mnt/x"])) == []
    assert PROBE["drift"](before, _state(mounts=[])) == ["mount /mnt/gluster/registry"]


def _write(path, records):
    path.write_text(json.dumps({"records": records}))


def test_the_fact_reports_live_only_for_a_fresh_record_of_an_unchanged_host(tree, tmp_path):
    watch = {"files": [str(tree / "etc")], "units": []}
    baseline = PROBE["probe"](watch)
    state = tmp_path / "state.json"
    fresh = record("d1", 3600, watch, baseline, time.time())
    _write(state, {"site": fresh, "old": {**fresh, "recorded_at": time.time() - 7200},
                   "outdated": {**fresh, "outdated": True}})
    report = PROBE["report"](str(state))
    assert report["site"]["digest"] == "d1" and report["site"]["live"] is True
    assert not report["old"]["live"] and report["old"]["drift"][0].startswith("age ")
    assert not report["outdated"]["live"]
    (tree / "etc" / "daemon.json").write_text("{}")
    changed = "file " + str(tree / "etc" / "daemon.json")
    assert PROBE["report"](str(state))["site"]["drift"] == [changed]
    assert PROBE["report"](str(tmp_path / "none.json")) == {}


@pytest.mark.parametrize("recorded, asked", [
    # The units the run left loaded, and no other: a unit systemd does not know costs it a
    # search of every unit directory on each run that skips.
    ({"docker.service": ["active", "enabled"], "sshd.service": ["active", "enabled"]},
     ["docker.service", "sshd.service"]),
    ({}, []),
    # systemctl could not be read when the run recorded: every watched unit, as then (those
    # named and those in /etc/systemd/system).
    ({"": "systemctl: not found"}, None),
])
def test_the_live_check_asks_systemd_only_of_the_units_the_run_left_loaded(
        tree, tmp_path, recorded, asked):
    probe = probe_namespace()
    queried = []

    def units(names):
        queried.append(list(names))
        return dict(recorded) if "" in recorded else {
            name: recorded[name] for name in names if name in recorded}

    probe["probe_units"] = units
    watch = {"files": [str(tree / "etc")], "units": ["docker.service", "nginx.service"]}
    baseline = {**probe["probe"](watch), "units": recorded}
    state = tmp_path / "state.json"
    _write(state, {"site": record("d1", 3600, watch, baseline, time.time()),
                   "engine": record("d2", 3600, watch, baseline, time.time())})
    queried.clear()
    report = probe["report"](str(state))
    # Asked once for both records, which share the watch and the baseline's units.
    assert queried == [probe["unit_names"](watch["units"]) if asked is None else asked]
    assert report["site"]["live"] is True and report["engine"]["live"] is True


def test_the_outdated_mark_outdates_only_the_records_written_before_it(tree, tmp_path):
    state = tmp_path / "state.json"
    watch = {"files": [str(tree / "etc")], "units": []}
    baseline = PROBE["probe"](watch)
    mark = tmp_path / ("state.json" + PROBE["OUTDATED_MARK"])
    mark.touch()
    os.utime(mark, (1000.0, 1000.0))
    _write(state, {"before": record("d1", 10**10, watch, baseline, 999.0),
                   "after": record("d1", 10**10, watch, baseline, 1001.0)})
    report = PROBE["report"](str(state))
    assert report["before"]["live"] is False
    assert report["before"]["drift"] == ["another playbook's run since, or one that did not finish"]
    assert report["after"]["live"] is True


def test_the_fact_script_runs_standalone_and_prints_the_report(tree, tmp_path):
    state = tmp_path / "state.json"
    watch = {"files": [str(tree / "etc")], "units": []}
    _write(state, {"site": record("d1", 3600, watch, PROBE["probe"](watch), time.time())})
    script = tmp_path / "dockhand_site_record.fact"
    # Run as setup runs a local fact: the file itself, through its #! line.
    script.write_text(fact_script(sys.executable, str(state)))
    script.chmod(0o755)
    printed = subprocess.run([str(script)], capture_output=True, text=True, check=True,
                             env={"PYTHONPATH": "/nonexistent", "PYTHONSTARTUP": "/nonexistent"})
    assert json.loads(printed.stdout)["site"]["live"] is True


def test_a_record_is_the_same_whatever_its_time_and_outdated_mark():
    new = record("d", 60, {"files": [], "units": []}, _state(), 100.0)
    assert same_record({**new, "recorded_at": 5.0, "outdated": True}, new)
    assert not same_record({**new, "digest": "other"}, new)
    assert not same_record(None, new)


RAW = {
    "docker_daemon_options": {"debug": False}, "inventory_hostname": "node1",
    "group_names": ["docker_hosts"], "ansible_host": "10.0.0.1",
    "ansible_facts": {"default_ipv4": {"address": "10.0.0.1"}, "date_time": {"epoch": "1"}},
    "ansible_default_ipv4": {"address": "10.0.0.1"}, "ansible_check_mode": False,
    "ansible_run_tags": ["all"], "__role_result": {"changed": True}, "playbook_dir": "/p",
    "dockhand_full_run": True, "omit": "__omit_place_holder__1234",
    "discovered_interpreter_python": "/usr/bin/python3",
}


def test_the_inputs_are_the_inventory_as_written_not_the_facts_or_how_the_run_started():
    assert site_digest.inventory_inputs(RAW) == {
        "docker_daemon_options": {"debug": False}, "inventory_hostname": "node1",
        "group_names": ["docker_hosts"], "ansible_host": "10.0.0.1"}


def _fleet(inventory, groups=None, project="p"):
    return site_digest.fleet_digest(project, groups or {"all": ["node1"]}, inventory)


@pytest.mark.parametrize("change", [
    lambda raw, groups: raw.update(docker_daemon_options={"debug": True}),
    lambda raw, groups: raw.update(proxy_backend="traefik"),
    lambda raw, groups: groups.update(swarm_managers=["node1"]),
])
def test_a_variable_or_a_group_that_changes_changes_the_digest(change):
    raw, groups = dict(RAW), {"all": ["node1"]}
    before = _fleet(site_digest.inventory_inputs(raw), dict(groups))
    change(raw, groups)
    assert _fleet(site_digest.inventory_inputs(raw), groups) != before


def test_the_run_s_own_variables_and_the_facts_change_nothing():
    raw = dict(RAW)
    before = site_digest.host_digest(_fleet(site_digest.inventory_inputs(raw)), {})
    # The facts are the host's record's to check: a run decides before gathering them.
    raw.update(ansible_check_mode=True, ansible_run_tags=["docker_pki"], __x=1,
               dockhand_full_run=False,
               ansible_facts={"default_ipv4": {"address": "10.0.0.2"}, "kernel": "6.1.0-99"})
    assert site_digest.host_digest(_fleet(site_digest.inventory_inputs(raw)), {}) == before
    assert site_digest.host_digest(_fleet(site_digest.inventory_inputs(raw)),
                                   {"/pki": "other"}) != before


def test_a_file_a_variable_names_and_the_pki_directory_s_content_are_inputs(tmp_path):
    binary = tmp_path / "traefik"
    binary.write_bytes(b"v1")
    inventory = {"node1": {"proxy_traefik_binary_src": str(binary)}}
    before = _fleet(inventory)
    binary.write_bytes(b"v2-longer")
    assert _fleet(inventory) != before
    pki = tmp_path / "pki"
    pki.mkdir()
    (pki / "ca.crt").write_text("one")
    first = site_digest.tree_digest(pki)
    (pki / "ca.crt").write_text("two")
    assert site_digest.tree_digest(pki) != first
    assert site_digest.tree_digest(tmp_path / "none") == "absent"


def test_why_each_host_moved():
    records = {"a": {"digest": "1", "live": True, "drift": []},
               "b": {"digest": "old", "live": True},
               "c": {"digest": "1", "live": False, "drift": ["file /etc/hosts"]}}
    assert site_digest.moved(records, {"a": "1", "b": "1", "c": "1", "d": "1"}) == {
        "b": "its inputs changed since the last converged run",
        "c": "not as the last converged run left it: file /etc/hosts",
        "d": "no record of a converged run"}


def test_a_reboot_a_new_kernel_or_address_and_a_removed_image_are_drift():
    system = PROBE["system"]()
    before = {**_state(engine={**ENGINE, "images": ["sha256:a", "sha256:b"]}), "boot": "1",
              "address": "10.0.0.1", "system": system}
    after = {**_state(engine={**ENGINE, "images": ["sha256:a", "sha256:c"]}), "boot": "2",
             "address": "10.0.0.2", "system": {**system, "kernel": "6.1.0-99"}}
    assert PROBE["drift"](before, after) == [
        "the host rebooted", "its kernel, architecture, init or Python", "its default address",
        "image sha256:b"]
    assert PROBE["drift"](before, {**before, "system": PROBE["system"]()}) == []


def test_the_default_address_is_the_one_the_routing_table_sends_from():
    # This machine's own: the address `ip route get` names for a remote destination.
    route = subprocess.run(["ip", "-4", "route", "get", "192.0.2.1"], capture_output=True,
                           text=True, check=False).stdout.split()
    expected = route[route.index("src") + 1] if "src" in route else None
    assert PROBE["default_address"]() == expected


def test_a_damaged_record_vouches_for_nothing(tmp_path):
    state = tmp_path / "state.json"
    _write(state, {"site": {"digest": "d1"}})
    report = PROBE["report"](str(state))["site"]
    assert report["live"] is False and "cannot be read" in report["drift"][0]


def test_strings_built_from_variables_that_name_a_path_are_rendered_lookups_are_not():
    inputs = {"node1": {
        "traefik": "{{ inventory_dir }}/../images/traefik",
        "secret": "{{ lookup('dockhand.docker.pki_random', 'x', pki_dir=docker_pki_dir) }}",
        "plain": "/usr/bin/env", "images": ["{{ playbook_dir }}/a.tar"], "name": "{{ x }}"}}
    assert site_digest.path_templates(inputs) == [
        "{{ inventory_dir }}/../images/traefik", "{{ playbook_dir }}/a.tar"]


@pytest.mark.parametrize("name, marked", [
    ("site", ["site"]),
    (None, ["engine", "site"]),
    ("podman", []),
])
def test_a_named_record_or_every_record_is_outdated_once(name, marked):
    records = {"site": {"digest": "a"}, "engine": {"digest": "b"}}
    assert outdate(records, name) == marked
    assert all(records[n]["outdated"] for n in marked)
    # Marking again is the record's own bookkeeping done: nothing new to mark.
    assert outdate(records, name) == []
