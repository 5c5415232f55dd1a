"""request-loop.py SPEC DIR: HTTP requests in a loop inside a lab host, until DIR/stop exists.

SPEC is a JSON file: {"pause": seconds, "targets": [{"name", "urls", "user", "password",
"cafile", "timeout"}]} (timeout: seconds without an answer before a request fails, 5 unless
given). Each round sends one request to each target. A target with several URLs is a
service reached at any of its nodes: a URL that refuses or drops the connection (the node's
task is gone) passes the request to the next, as the front door does with its upstreams; the
request fails when none answers 2xx. Results: DIR/<name>.ok (a line per success) and
DIR/<name>.fail (a line per failure, with the reason), each line with the time the request
took. Unlike `docker pull`, it needs no engine on the host, so it keeps counting while that
host's engine restarts.
"""

import base64
import contextlib
import json
import ssl
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path


def attempt(target, url):
    request = urllib.request.Request(url)
    if target.get("user"):
        token = base64.b64encode(f"{target['user']}:{target['password']}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    context = ssl.create_default_context(cafile=target["cafile"]) if target.get("cafile") else None
    with urllib.request.urlopen(request, timeout=target.get("timeout", 5),
                                context=context) as answer:
        answer.read()
        return answer.status


def one_request(target):
    reasons = []
    for url in target["urls"]:
        try:
            return None if 200 <= attempt(target, url) < 300 else f"{url}: not 2xx"
        except urllib.error.HTTPError as exc:
            return f"{url}: HTTP {exc.code}"
        except OSError as exc:  # refused, reset, unreachable, timed out: the next node
            reasons.append(f"{url}: {exc}")
    return "; ".join(reasons)


def main():
    spec_file, out = Path(sys.argv[1]), Path(sys.argv[2])
    spec = json.loads(spec_file.read_text())
    spec_file.unlink()  # it holds a password
    with contextlib.ExitStack() as stack:
        files = {t["name"]: {outcome: stack.enter_context(
                     (out / f"{t['name']}.{outcome}").open("a", encoding="utf-8"))
                     for outcome in ("ok", "fail")} for t in spec["targets"]}
        while not (out / "stop").exists():
            for target in spec["targets"]:
                started = time.monotonic()
                failure = one_request(target)
                file = files[target["name"]]["fail" if failure else "ok"]
                took = time.monotonic() - started
                file.write(f"{time.strftime('%T')} {took:.2f} s {failure or ''}\n")
                file.flush()
            time.sleep(spec.get("pause", 0.2))
    (out / "done").touch()


main()
