"""GitLab's stand-in in the lab: it keeps GitLab's contract with the data tier.

It reads the database and Redis settings from /etc/gitlab/gitlab.rb, as GitLab's omnibus
does. On every request to / it commits a row to PostgreSQL through the configured endpoint,
with the configured sslmode and CA, and increments a counter in the Redis primary its
Sentinels name (TLS with the configured CA, both passwords), and answers with its hostname,
the row's number and the counter; when either fails, it answers 503. /-/health (GitLab's own
health path) answers without them, so a failover does not make the swarm restart the task.
Without an external database or Redis in gitlab.rb, / answers with the hostname only.
"""

import http.server
import re
import socket
import sys
import time

import psycopg2
import redis
from redis.sentinel import Sentinel

RB = "/etc/gitlab/gitlab.rb"
HOSTNAME = socket.gethostname()
# A request slower than this is logged with where its time went: the drills' request loops
# give up after 5 s unless told otherwise.
SLOW = 1.0


def settings() -> dict[str, str]:
    """gitlab_rails['db_*'] and ['redis_*'] and redis['master_*'] settings of gitlab.rb, read
    at every request: a new gitlab.rb rolls the task anyway, and reading it costs nothing
    beside a commit. The Sentinels' list is kept as `sentinels`: [(host, port)]."""
    with open(RB, encoding="utf-8") as handle:
        text = handle.read()
    found = dict(re.findall(r"^gitlab_rails\['((?:db|redis)_\w+)'\] = '?([^'\n]*)'?$", text,
                            re.MULTILINE))
    found.update(re.findall(r"^redis\['(master_\w+)'\] = '([^'\n]*)'$", text, re.MULTILINE))
    listed = re.search(r"^gitlab_rails\['redis_sentinels'\] = (.*)$", text, re.MULTILINE)
    found["sentinels"] = [(host, int(port)) for host, port in re.findall(
        r"'host' => '([^']+)', 'port' => (\d+)", listed.group(1) if listed else "")]
    return found


def increment(found: dict) -> int:
    tls = {"ssl": True, "ssl_ca_certs": found["redis_tls_ca_cert_file"]} \
        if found.get("redis_ssl") == "true" else {}
    sentinel = Sentinel(found["sentinels"], socket_timeout=2,
                        sentinel_kwargs={"password": found.get("redis_sentinels_password"),
                                         "socket_timeout": 2, **tls},
                        password=found.get("master_password"), **tls)
    return sentinel.master_for(found["master_name"], socket_timeout=2).incr("stand_in_requests")


def commit(found: dict) -> int:
    with psycopg2.connect(
        host=found["db_host"], port=found.get("db_port", "5432"),
        dbname=found["db_database"], user=found["db_username"],
        password=found["db_password"], sslmode=found.get("db_sslmode", "prefer"),
        sslrootcert=found.get("db_sslrootcert", ""), connect_timeout=3,
        application_name="gitlab-stand-in",
    ) as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE IF NOT EXISTS stand_in_requests"
                    " (n bigserial PRIMARY KEY, at timestamptz NOT NULL DEFAULT now())")
        cur.execute("INSERT INTO stand_in_requests DEFAULT VALUES RETURNING n")
        return cur.fetchone()[0]


class Handler(http.server.BaseHTTPRequestHandler):
    def answer(self, status: int, body: str) -> None:
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/-/health":
            self.answer(200, "GitLab OK\n")
            return
        if path not in ("/", "/index.html"):
            self.answer(404, "not found\n")
            return
        found = settings()
        words, spent, started = [HOSTNAME], [], time.monotonic()
        if "db_host" in found:
            try:
                words += ["row", str(commit(found))]
            except psycopg2.Error as exc:
                self.fail(f"database: {str(exc).strip()}")
                return
            spent.append(f"database {time.monotonic() - started:.1f} s")
        if found["sentinels"]:
            try:
                words += ["counter", str(increment(found))]
            except redis.RedisError as exc:
                self.fail(f"redis: {exc}")
                return
        if time.monotonic() - started > SLOW:
            spent.append(f"in all {time.monotonic() - started:.1f} s")
            print(f"{time.strftime('%T')} slow request: {', '.join(spent)}", file=sys.stderr,
                  flush=True)
        self.answer(200, " ".join(words) + "\n")

    def fail(self, reason: str) -> None:
        """503, and the reason in the task's log too (docker service logs)."""
        print(f"{time.strftime('%T')} 503: {reason}", file=sys.stderr, flush=True)
        self.answer(503, f"{HOSTNAME} {reason}\n")

    def log_message(self, *args) -> None:
        """Quiet: the requests are counted by the tests, not logged."""


http.server.ThreadingHTTPServer(("", 8080), Handler).serve_forever()
