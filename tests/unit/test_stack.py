"""The pure stack logic of module_utils/stack.py: ports in the long syntax, the documents as
deployed and their digest, the deploy plan, what changed, convergence and task errors.
No Docker daemon."""

from __future__ import annotations

import copy

import pytest
from ansible_collections.dockhand.docker.plugins.module_utils import stack

SPEC = stack.SPEC_LABEL
NAMESPACE = stack.NAMESPACE_LABEL
OLD_DIGEST = "0" * 64

# ---------------------------------------------------------------------------------------------
# Realistic /services?status=1 and /tasks answers (Docker 20.10, trimmed)
# ---------------------------------------------------------------------------------------------


def api_service(name, service_id=None, digest=None, mode=None, running=None, desired=None,
                update=None, message=None, image="registry.lab:5000/shop/app:1", index=31):
    labels = {NAMESPACE: name.split("_", 1)[0], "com.docker.stack.image": image}
    if digest is not None:
        labels[SPEC] = digest
    service = {
        "ID": service_id or f"svc{name.replace('_', '')}".ljust(25, "x"),
        "Version": {"Index": index},
        "CreatedAt": "2024-05-01T10:00:00.123456789Z",
        "UpdatedAt": "2024-05-01T10:05:00.987654321Z",
        "Spec": {
            "Name": name,
            "Labels": labels,
            "TaskTemplate": {
                "ContainerSpec": {"Image": image, "Labels": {NAMESPACE: name.split("_")[0]}},
                "Resources": {},
                "Placement": {"Platforms": [{"Architecture": "amd64", "OS": "linux"}]},
                "Networks": [{"Target": "n3tw0rkid", "Aliases": [name.split("_", 1)[1]]}],
                "ForceUpdate": 0,
                "Runtime": "container",
            },
            "Mode": mode if mode is not None else {"Replicated": {"Replicas": 2}},
            "EndpointSpec": {"Mode": "vip"},
        },
        "Endpoint": {"Spec": {"Mode": "vip"}},
    }
    if running is not None or desired is not None:
        service["ServiceStatus"] = {"RunningTasks": running or 0, "DesiredTasks": desired or 0,
                                    "CompletedTasks": 0}
    if update:
        service["UpdateStatus"] = {"State": update, "StartedAt": "2024-05-01T10:05:00Z"}
        if message:
            service["UpdateStatus"]["Message"] = message
    return service


def api_task(task_id, node=None, state="running", desired="running", created="10:00:00",
             service="svcshopappxxxxxxxxxxxxxxxx", err=None, timestamp=None, message=None):
    task = {
        "ID": task_id,
        "Version": {"Index": 40},
        "CreatedAt": f"2024-05-01T{created}.000000001Z",
        "UpdatedAt": f"2024-05-01T{created}.500000001Z",
        "ServiceID": service,
        "Status": {
            "Timestamp": f"2024-05-01T{timestamp or created}.200000001Z",
            "State": state,
            "Message": message or state,
        },
        "DesiredState": desired,
    }
    if node is not None:
        task["NodeID"] = node
    if err is not None:
        task["Status"]["Err"] = err
    return task


GLOBAL = {"Global": {}}
COMPOSE = {
    "version": "3.8",
    "services": {
        "app": {
            "image": "registry.lab:5000/shop/app:1",
            "ports": ["8080:80", {"target": 443, "published": 8443, "mode": "ingress"}],
            "deploy": {"replicas": 2, "labels": {"com.example.team": "shop"}},
        },
        "db": {
            "image": "registry.lab:5000/shop/db:1",
            "deploy": {"endpoint_mode": "vip", "labels": ["backup=daily", "critical"]},
        },
        "worker": {"image": "registry.lab:5000/shop/worker:1", "deploy": {"mode": "global"}},
    },
    "networks": {"default": {"driver": "overlay", "attachable": True}},
}

# ---------------------------------------------------------------------------------------------
# long_port
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("entry", "expected"), [
    ("8080:80", [{"target": 80, "published": 8080, "protocol": "tcp", "mode": "host"}]),
    ("80", [{"target": 80, "protocol": "tcp", "mode": "host"}]),
    (80, [{"target": 80, "protocol": "tcp", "mode": "host"}]),
    ("53:53/udp", [{"target": 53, "published": 53, "protocol": "udp", "mode": "host"}]),
    ("3868/sctp", [{"target": 3868, "protocol": "sctp", "mode": "host"}]),
    ("8000-8001:80-81", [{"target": 80, "published": 8000, "protocol": "tcp", "mode": "host"},
                         {"target": 81, "published": 8001, "protocol": "tcp", "mode": "host"}]),
    ("9000-9002", [{"target": port, "protocol": "tcp", "mode": "host"}
                   for port in (9000, 9001, 9002)]),
    ("7000-7000:70-70/udp", [{"target": 70, "published": 7000, "protocol": "udp",
                              "mode": "host"}]),
    # The long syntax only gets the mode, and only when it has none.
    ({"target": 80, "published": 8080}, [{"target": 80, "published": 8080, "mode": "host"}]),
    ({"target": 80, "published": 8080, "mode": "ingress"},
     [{"target": 80, "published": 8080, "mode": "ingress"}]),
    ({"target": "80", "protocol": "udp"}, [{"target": "80", "protocol": "udp", "mode": "host"}]),
])
def test_long_port(entry, expected):
    original = copy.deepcopy(entry)
    assert stack.long_port(entry, "host") == expected
    assert entry == original


def test_long_port_mode_is_the_one_given():
    assert stack.long_port("8080:80", "ingress") == [
        {"target": 80, "published": 8080, "protocol": "tcp", "mode": "ingress"}]
    assert stack.long_port({"target": 80}, "ingress") == [{"target": 80, "mode": "ingress"}]


HOST_ADDRESS = "a swarm service cannot publish on one host address"
SIZES = "the published and target ranges differ in size"
UNREADABLE = "(use TARGET, PUBLISHED:TARGET or the long syntax)"


@pytest.mark.parametrize(("entry", "message"), [
    ("127.0.0.1:80:80", f"port '127.0.0.1:80:80': {HOST_ADDRESS}"),
    ("0.0.0.0:8080:80/udp", f"port '0.0.0.0:8080:80/udp': {HOST_ADDRESS}"),
    ("[::1]:8080:80", f"port '[::1]:8080:80': {HOST_ADDRESS}"),
    ("127.0.0.1:80", f"port '127.0.0.1:80': {HOST_ADDRESS}"),
    ("8000-8002:80-81", f"port '8000-8002:80-81': {SIZES}"),
    ("8000:80-81", f"port '8000:80-81': {SIZES}"),
    ("8000-8001:80", f"port '8000-8001:80': {SIZES}"),
    ("81-80", "port range '81-80' runs backwards"),
    ("8001-8000:80-81", "port range '8001-8000' runs backwards"),
    ("http", f"cannot read port 'http' {UNREADABLE}"),
    ("", f"cannot read port '' {UNREADABLE}"),
    ("80/icmp", f"cannot read port '80/icmp' {UNREADABLE}"),
    ("80:", f"cannot read port '80:' {UNREADABLE}"),
    (":80", f"cannot read port ':80' {UNREADABLE}"),
    ("80:80:80", f"cannot read port '80:80:80' {UNREADABLE}"),
    ("-80", f"cannot read port '-80' {UNREADABLE}"),
    ("80 ", f"cannot read port '80 ' {UNREADABLE}"),
    (None, f"cannot read port 'None' {UNREADABLE}"),
    (8.5, f"cannot read port '8.5' {UNREADABLE}"),
])
def test_long_port_refuses(entry, message):
    with pytest.raises(ValueError) as raised:
        stack.long_port(entry, "ingress")
    assert str(raised.value) == message


# ---------------------------------------------------------------------------------------------
# prepare
# ---------------------------------------------------------------------------------------------


def test_prepare_publish_mode_goes_onto_ports_without_one():
    prepared, _ = stack.prepare([COMPOSE], publish_mode="host")
    assert prepared[0]["services"]["app"]["ports"] == [
        {"target": 80, "published": 8080, "protocol": "tcp", "mode": "host"},
        {"target": 443, "published": 8443, "mode": "ingress"},
    ]
    # Services without ports get none.
    assert "ports" not in prepared[0]["services"]["db"]
    assert "ports" not in prepared[0]["services"]["worker"]


def test_prepare_without_publish_mode_leaves_ports_alone():
    prepared, _ = stack.prepare([COMPOSE])
    assert prepared[0]["services"]["app"]["ports"] == COMPOSE["services"]["app"]["ports"]


def test_prepare_names_the_service_of_a_bad_port():
    document = {"services": {"web": {"image": "x", "ports": ["80:80", "127.0.0.1:81:81"]}}}
    with pytest.raises(ValueError, match=r"^service web: port '127\.0\.0\.1:81:81': a swarm "):
        stack.prepare([document], publish_mode="ingress")
    # Without a publish mode the ports are not read at all: docker stack deploy judges them.
    prepared, _ = stack.prepare([document])
    assert prepared[0]["services"]["web"]["ports"] == ["80:80", "127.0.0.1:81:81"]


def test_prepare_endpoint_mode_only_where_not_set():
    prepared, _ = stack.prepare([COMPOSE], endpoint_mode="dnsrr")
    services = prepared[0]["services"]
    assert services["app"]["deploy"]["endpoint_mode"] == "dnsrr"
    assert services["db"]["deploy"]["endpoint_mode"] == "vip"
    assert services["worker"]["deploy"]["endpoint_mode"] == "dnsrr"
    assert services["worker"]["deploy"]["mode"] == "global"

    plain, _ = stack.prepare([COMPOSE])
    assert "endpoint_mode" not in plain[0]["services"]["app"]["deploy"]
    assert plain[0]["services"]["db"]["deploy"]["endpoint_mode"] == "vip"


def test_prepare_endpoint_mode_creates_deploy():
    prepared, digest = stack.prepare([{"services": {"web": {"image": "x"}}}],
                                     endpoint_mode="dnsrr")
    assert prepared == [{"services": {"web": {"image": "x", "deploy": {
        "endpoint_mode": "dnsrr", "labels": {SPEC: digest}}}}}]


def test_prepare_labels_every_service_with_the_digest():
    second = {"services": {"cache": {"image": "redis:7", "deploy": {"labels": {"a": "b"}}}}}
    prepared, digest = stack.prepare([COMPOSE, second])
    assert len(digest) == 64
    assert int(digest, 16) >= 0
    assert prepared[0]["services"]["app"]["deploy"]["labels"] == {
        "com.example.team": "shop", SPEC: digest}
    # List-form labels become a mapping; a label without '=' has an empty value.
    assert prepared[0]["services"]["db"]["deploy"]["labels"] == {
        "backup": "daily", "critical": "", SPEC: digest}
    assert prepared[0]["services"]["worker"]["deploy"]["labels"] == {SPEC: digest}
    assert prepared[1]["services"]["cache"]["deploy"]["labels"] == {"a": "b", SPEC: digest}
    # Everything else is as given.
    assert prepared[0]["networks"] == COMPOSE["networks"]
    assert prepared[0]["version"] == "3.8"
    assert prepared[0]["services"]["worker"]["deploy"]["mode"] == "global"


def test_prepare_list_label_value_keeps_later_equals_signs():
    document = {"services": {"web": {"image": "x", "deploy": {
        "labels": ["traefik.http.routers.web.rule=Host(`a=b`)"]}}}}
    prepared, digest = stack.prepare([document])
    assert prepared[0]["services"]["web"]["deploy"]["labels"] == {
        "traefik.http.routers.web.rule": "Host(`a=b`)", SPEC: digest}


def test_prepare_replaces_a_stale_spec_label():
    document = {"services": {"web": {"image": "x", "deploy": {"labels": {SPEC: OLD_DIGEST}}}}}
    prepared, digest = stack.prepare([document])
    assert digest != OLD_DIGEST
    assert prepared[0]["services"]["web"]["deploy"]["labels"] == {SPEC: digest}


def test_prepare_does_not_touch_its_input():
    documents = [copy.deepcopy(COMPOSE), {"services": {"x": {"image": "x", "ports": [80]}}}]
    original = copy.deepcopy(documents)
    stack.prepare(documents, publish_mode="host", endpoint_mode="dnsrr")
    assert documents == original


def test_prepare_digest_is_stable():
    first = stack.prepare([COMPOSE], "host", "vip")
    again = stack.prepare([copy.deepcopy(COMPOSE)], "host", "vip")
    assert first == again
    # The order of keys in a mapping does not matter.
    reordered = dict(reversed(list(copy.deepcopy(COMPOSE).items())))
    reordered["services"] = dict(reversed(list(reordered["services"].items())))
    assert stack.prepare([reordered], "host", "vip")[1] == first[1]
    assert stack.prepare([COMPOSE], "ingress")[1] != stack.prepare([COMPOSE], "host")[1]
    # A mode a service sets itself is not overridden, and so does not change the digest.
    db_only = {"services": {"db": copy.deepcopy(COMPOSE["services"]["db"])}}
    assert stack.prepare([db_only], endpoint_mode="vip")[1] == stack.prepare([db_only])[1]
    # Nor does a publish mode when nothing is published.
    assert stack.prepare([db_only], publish_mode="host")[1] == stack.prepare([db_only])[1]


def _with(path, value):
    document = copy.deepcopy(COMPOSE)
    target = document
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return [document]


@pytest.mark.parametrize(("documents", "publish_mode", "endpoint_mode"), [
    (_with(("services", "app", "image"), "registry.lab:5000/shop/app:2"), None, None),
    (_with(("services", "app", "deploy", "replicas"), 3), None, None),
    (_with(("services", "db", "deploy", "labels"), ["backup=weekly", "critical"]), None, None),
    (_with(("networks", "default", "attachable"), False), None, None),
    ([COMPOSE, {"services": {"cache": {"image": "redis:7"}}}], None, None),
    ([COMPOSE], "ingress", None),
    ([COMPOSE], "host", None),
    ([COMPOSE], None, "dnsrr"),
])
def test_prepare_digest_differs_with_the_input(documents, publish_mode, endpoint_mode):
    base = stack.prepare([COMPOSE])[1]
    digest = stack.prepare(documents, publish_mode, endpoint_mode)[1]
    assert digest != base


def test_prepare_accepts_a_document_without_services():
    networks_only = {"version": "3.8", "networks": {"backend": {"driver": "overlay"}}}
    prepared, digest = stack.prepare([networks_only])
    assert prepared == [networks_only]
    assert digest == stack.spec_digest([networks_only])


def test_prepare_accepts_an_empty_deploy():
    # YAML `deploy:` with every setting commented out is null, and docker stack deploy takes
    # it (the compose schema allows null for deploy).
    prepared, digest = stack.prepare([{"services": {"web": {"image": "x", "deploy": None}}}])
    assert prepared[0]["services"]["web"]["deploy"]["labels"] == {SPEC: digest}


@pytest.mark.parametrize(("documents", "message"), [
    ([], "compose is empty"),
    (None, "compose is empty"),
    (["services: {}"], "compose document 1 is not a mapping"),
    ([COMPOSE, ["services"]], "compose document 2 is not a mapping"),
    ([COMPOSE, None], "compose document 2 is not a mapping"),
    ([{"services": ["app", "db"]}], "compose document 1: services is not a mapping"),
    ([{"services": "app"}], "compose document 1: services is not a mapping"),
    ([COMPOSE, {"services": {"web": None}}], "compose document 2: service web is not a mapping"),
    ([{"services": {"web": "nginx:1"}}], "compose document 1: service web is not a mapping"),
])
def test_prepare_refuses(documents, message):
    with pytest.raises(ValueError, match=f"^{message}"):
        stack.prepare(documents)


# ---------------------------------------------------------------------------------------------
# plan
# ---------------------------------------------------------------------------------------------


def test_service_names():
    documents = [COMPOSE, {"services": {"app": {"replicas": 3}, "cache": {}}}, {}]
    assert stack.service_names("shop", documents) == [
        "shop_app", "shop_cache", "shop_db", "shop_worker"]


def test_plan_up_to_date_is_all_empty():
    documents, digest = stack.prepare([COMPOSE])
    current = [api_service(f"shop_{name}", digest=digest) for name in ("app", "db", "worker")]
    for prune in (False, True):
        assert stack.plan("shop", documents, digest, current, prune) == {
            "create": [], "update": [], "remove": []}


def test_plan_creates_updates_and_removes():
    documents, digest = stack.prepare([COMPOSE])
    current = [
        api_service("shop_app", digest=digest),
        api_service("shop_db", digest=OLD_DIGEST),           # deployed from other documents
        api_service("shop_legacy", digest=OLD_DIGEST),       # no longer in the documents
        api_service("shop_cron", digest=digest),             # left over, same digest label
    ]
    assert stack.plan("shop", documents, digest, current) == {
        "create": ["shop_worker"], "update": ["shop_db"], "remove": []}
    assert stack.plan("shop", documents, digest, current, prune=True) == {
        "create": ["shop_worker"], "update": ["shop_db"], "remove": ["shop_cron", "shop_legacy"]}


def test_plan_updates_services_without_the_label():
    # Deployed by hand with docker stack deploy, or before the module labelled services.
    documents, digest = stack.prepare([COMPOSE])
    unlabelled = api_service("shop_app")
    no_labels = api_service("shop_db")
    no_labels["Spec"]["Labels"] = None
    missing = api_service("shop_worker")
    del missing["Spec"]["Labels"]
    assert stack.plan("shop", documents, digest, [unlabelled, no_labels, missing]) == {
        "create": [], "update": ["shop_app", "shop_db", "shop_worker"], "remove": []}


def test_plan_of_a_new_stack_creates_everything():
    documents, digest = stack.prepare([COMPOSE, {"services": {"cache": {"image": "r"}}}])
    assert stack.plan("shop", documents, digest, [], prune=True) == {
        "create": ["shop_app", "shop_cache", "shop_db", "shop_worker"], "update": [],
        "remove": []}


# ---------------------------------------------------------------------------------------------
# spec_changes
# ---------------------------------------------------------------------------------------------


def test_spec_changes():
    before = [api_service("shop_app", digest="a" * 64), api_service("shop_db", digest="a" * 64),
              api_service("shop_old", digest="a" * 64)]
    after = [copy.deepcopy(before[0]), api_service("shop_db", digest="b" * 64),
             api_service("shop_new", digest="b" * 64)]
    # What is outside the spec changes on every deploy and does not count.
    after[0]["Version"]["Index"] += 7
    after[0]["UpdatedAt"] = "2024-05-01T11:00:00Z"
    after[0]["UpdateStatus"] = {"State": "completed"}
    after[0]["ServiceStatus"] = {"RunningTasks": 1, "DesiredTasks": 2}
    assert stack.spec_changes(before, after) == ["shop_db", "shop_new", "shop_old"]
    assert stack.spec_changes(before, copy.deepcopy(before)) == []
    assert stack.spec_changes([], []) == []
    assert stack.spec_changes([], before) == ["shop_app", "shop_db", "shop_old"]
    assert stack.spec_changes(before, []) == ["shop_app", "shop_db", "shop_old"]


def test_spec_changes_sees_an_image_change():
    before = [api_service("shop_app", digest="a" * 64)]
    after = copy.deepcopy(before)
    after[0]["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"] = "app:2@sha256:" + "c" * 64
    assert stack.spec_changes(before, after) == ["shop_app"]


# ---------------------------------------------------------------------------------------------
# progress: replicated services
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("running", "desired", "replicas", "update", "expected"), [
    (2, 2, 2, None, (True, None, "2/2")),
    (2, 2, 2, "completed", (True, None, "2/2")),
    (2, 2, 2, "rollback_started", (False, None, "2/2")),
    (2, 2, 2, "updating", (False, None, "2/2")),
    (1, 2, 2, None, (False, None, "1/2")),
    (0, 2, 2, "completed", (False, None, "0/2")),
    (3, 3, 3, "completed", (True, None, "3/3")),
    # Scaled up: the replica count counts, not the daemon's (older) desired tasks.
    (2, 2, 4, None, (False, None, "2/4")),
    # Scaled to nothing.
    (0, 0, 0, None, (True, None, "0/0")),
])
def test_progress_replicated(running, desired, replicas, update, expected):
    service = api_service("shop_app", mode={"Replicated": {"Replicas": replicas}},
                          running=running, desired=desired, update=update)
    assert stack.progress(service) == expected


@pytest.mark.parametrize("update", ["paused", "rollback_paused", "rollback_completed"])
def test_progress_failed_update(update):
    message = "update paused due to failure or early termination of task 9m2x0f"
    service = api_service("shop_app", running=2, desired=2, update=update, message=message)
    assert stack.progress(service) == (False, f"update {update}: {message}", "2/2")
    without_message = api_service("shop_app", running=1, desired=2, update=update)
    assert stack.progress(without_message) == (False, f"update {update}: {update}", "1/2")


def test_progress_without_service_status():
    # A /services answer without ?status=1: nothing counts as running.
    assert stack.progress(api_service("shop_app")) == (False, None, "0/2")


def test_progress_replicated_ignores_tasks():
    service = api_service("shop_app", running=2, desired=2)
    tasks = [api_task("t1", "node1", state="rejected", err="No such image"),
             api_task("t2", "node2", state="pending", desired="running")]
    assert stack.progress(service, tasks) == (True, None, "2/2")


# ---------------------------------------------------------------------------------------------
# progress: global services
# ---------------------------------------------------------------------------------------------


def global_service(update=None, message=None):
    # The daemon's own counts are deliberately off: a global service is judged by its tasks.
    return api_service("shop_worker", mode=GLOBAL, running=3, desired=3, update=update,
                       message=message)


def test_progress_global_all_running():
    tasks = [api_task(f"t{n}", f"node{n}") for n in (1, 2, 3)]
    assert stack.progress(global_service(), tasks) == (True, None, "3/3")
    assert stack.progress(global_service("completed"), tasks) == (True, None, "3/3")


def test_progress_global_latest_task_per_node_decides():
    tasks = [
        api_task("old1", "node1", state="running", desired="shutdown", created="09:00:00"),
        api_task("new1", "node1", state="running", desired="running", created="10:00:00"),
        # node2: the old task still runs, but its replacement was rejected and waits to retry.
        api_task("new2", "node2", state="rejected", desired="ready", created="10:00:01",
                 err="No such image: registry.lab:5000/shop/worker:1"),
        api_task("old2", "node2", state="running", desired="shutdown", created="09:00:01"),
        api_task("new3", "node3", state="running", desired="running", created="10:00:02"),
    ]
    assert stack.progress(global_service(), tasks) == (False, None, "2/3")


def test_progress_global_starting_task_is_not_running_yet():
    tasks = [api_task("t1", "node1"),
             api_task("t2", "node2", state="starting", desired="running"),
             api_task("t3", "node3", state="assigned", desired="running")]
    assert stack.progress(global_service(), tasks) == (False, None, "1/3")


def test_progress_global_ignores_nodes_whose_latest_task_is_shut_down():
    tasks = [
        api_task("t1", "node1"),
        api_task("t2", "node2"),
        # node3 was drained (or no longer matches a constraint): an older running task there
        # does not matter either.
        api_task("t3old", "node3", state="running", desired="running", created="09:00:00"),
        api_task("t3", "node3", state="shutdown", desired="shutdown", created="10:30:00"),
        # A task not placed on any node does not count.
        api_task("t4", None, state="pending", desired="running"),
    ]
    assert stack.progress(global_service(), tasks) == (True, None, "2/2")


def test_progress_global_without_tasks_has_not_converged():
    assert stack.progress(global_service()) == (False, None, "0/0")
    only_shutdown = [api_task("t1", "node1", state="shutdown", desired="shutdown")]
    assert stack.progress(global_service(), only_shutdown) == (False, None, "0/0")


def test_progress_global_updating_and_failed():
    tasks = [api_task(f"t{n}", f"node{n}") for n in (1, 2)]
    assert stack.progress(global_service("updating"), tasks) == (False, None, "2/2")
    assert stack.progress(global_service("paused", "task failed"), tasks) == (
        False, "update paused: task failed", "2/2")


def test_progress_global_latest_task_by_creation_time_across_fractions():
    # Docker prints timestamps with trailing zeros trimmed: .5 is later than .123456789.
    older = api_task("old", "node1", state="running", desired="shutdown")
    older["CreatedAt"] = "2024-05-01T10:00:00.123456789Z"
    newer = api_task("new", "node1", state="running", desired="running")
    newer["CreatedAt"] = "2024-05-01T10:00:00.5Z"
    assert stack.progress(global_service(), [older, newer]) == (True, None, "1/1")
    assert stack.progress(global_service(), [newer, older]) == (True, None, "1/1")


def test_progress_global_latest_task_of_a_whole_second():
    older = api_task("old", "node1", state="running", desired="running")
    older["CreatedAt"] = "2024-05-01T10:00:00Z"
    newer = api_task("new", "node1", state="rejected", desired="ready", err="No such image")
    newer["CreatedAt"] = "2024-05-01T10:00:00.5Z"
    assert stack.progress(global_service(), [older, newer]) == (False, None, "0/1")


# ---------------------------------------------------------------------------------------------
# progress: jobs
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", [
    {"ReplicatedJob": {"MaxConcurrent": 1, "TotalCompletions": 1}},
    {"GlobalJob": {}},
])
def test_progress_jobs_have_converged(mode):
    running = api_service("shop_migrate", mode=mode, running=1, desired=1)
    assert stack.progress(running) == (True, None, "1/1")
    done = api_service("shop_migrate", mode=mode, running=0, desired=0)
    assert stack.progress(done, [api_task("t1", "node1", state="complete",
                                          desired="complete")]) == (True, None, "0/0")
    pending = api_service("shop_migrate", mode=mode, running=0, desired=1)
    assert stack.progress(pending) == (True, None, "0/1")


# ---------------------------------------------------------------------------------------------
# task_errors
# ---------------------------------------------------------------------------------------------

APP, DB = "svcapp000000000000000000a", "svcdb0000000000000000000b"
NODE_NAMES = {"node1id": "node1", "node2id": "node2"}
SERVICE_NAMES = {APP: "shop_app", DB: "shop_db"}


def test_task_errors_newest_per_service_and_node():
    tasks = [
        api_task("a1", "node1id", "rejected", "shutdown", service=APP, timestamp="10:00:01",
                 err="No such image: registry.lab:5000/shop/app:1"),
        api_task("a2", "node1id", "rejected", "ready", service=APP, timestamp="10:00:09",
                 err="No such image: registry.lab:5000/shop/app:2"),
        api_task("a3", "node2id", "failed", "shutdown", service=APP, timestamp="10:00:05",
                 err="task: non-zero exit (1)"),
        api_task("a4", "node2id", "running", "running", service=APP, timestamp="10:00:07"),
        api_task("d1", None, "pending", "running", service=DB, timestamp="10:00:03",
                 err="no suitable node (scheduling constraints not satisfied on 4 nodes)"),
        api_task("d2", "node1id", "running", "running", service=DB, timestamp="10:00:08"),
    ]
    assert stack.task_errors(tasks, NODE_NAMES, SERVICE_NAMES) == [
        "shop_app on node1: rejected: No such image: registry.lab:5000/shop/app:2",
        # The newest error of (app, node2), though a later task there runs.
        "shop_app on node2: failed: task: non-zero exit (1)",
        "shop_db on no node: pending: no suitable node (scheduling constraints not satisfied "
        "on 4 nodes)",
    ]


def test_task_errors_unknown_ids_are_shown_as_they_are():
    tasks = [api_task("x1", "node9id", "rejected", "shutdown", service="svcgone", err="boom")]
    assert stack.task_errors(tasks, NODE_NAMES, SERVICE_NAMES) == [
        "svcgone on node9id: rejected: boom"]


def test_task_errors_limit_keeps_the_newest():
    tasks = [api_task(f"t{n}", f"node{n}", "failed", "shutdown", service=APP,
                      timestamp=f"10:00:{n:02d}", err=f"error {n}") for n in range(1, 15)]
    found = stack.task_errors(tasks, {}, SERVICE_NAMES)
    assert found == [f"shop_app on node{n}: failed: error {n}" for n in range(14, 4, -1)]
    assert stack.task_errors(tasks, {}, SERVICE_NAMES, limit=2) == [
        "shop_app on node14: failed: error 14", "shop_app on node13: failed: error 13"]


def test_task_errors_without_errors():
    tasks = [api_task("t1", "node1id", service=APP), api_task("t2", "node2id", service=DB)]
    tasks[1]["Status"]["Err"] = ""
    assert stack.task_errors(tasks, NODE_NAMES, SERVICE_NAMES) == []
    assert stack.task_errors([], NODE_NAMES, SERVICE_NAMES) == []


IN_USE = ("Failed to remove network k3v9: Error response from daemon: rpc error: code = "
          "FailedPrecondition desc = network k3v9 is in use by task x7q1")
LEFT = "Failed to remove some resources from stack: web\n"


@pytest.mark.parametrize(("stderr", "expected"), [
    (IN_USE + LEFT, True),
    ("Failed to remove service s1: Error response from daemon: rpc error: code = "
     "DeadlineExceeded desc = context deadline exceeded" + IN_USE + LEFT, True),
    ("Error response from daemon: This node is not a swarm manager. Use \"docker swarm "
     "init\" or \"docker swarm join\" to connect this node to swarm and try again.\n", False),
    ("Cannot connect to the Docker daemon at unix:///var/run/docker.sock.\n", False),
    ("", False),
])
def test_a_failed_removal_is_repeated_only_when_it_went_through_the_stack(stderr, expected):
    assert stack.partly_removed(stderr) is expected
