"""GitLab's stand-in in the lab: it keeps GitLab's contract with the data tier.

It reads the database settings from /etc/gitlab/gitlab.rb, as GitLab's omnibus does. On every
request to / it commits a row to PostgreSQL through the configured endpoint, with the
configured sslmode and CA, and answers with its hostname and the row's number; when the
commit fails, it answers 503. /-/health (GitLab's own health path) answers without the
database, so a database failover does not make the swarm restart the task. Without an
external database in gitlab.rb, / answers with the hostname only.
"""

import http.server
import re
import socket

import psycopg2

RB = "/etc/gitlab/gitlab.rb"
HOSTNAME = socket.gethostname()


def database() -> dict[str, str]:
    """gitlab_rails['db_*'] settings of gitlab.rb, read at every request: a new gitlab.rb
    rolls the task anyway, and reading it costs nothing beside a commit."""
    with open(RB, encoding="utf-8") as handle:
        text = handle.read()
    return dict(re.findall(r"^gitlab_rails\['(db_\w+)'\] = '?([^'\n]*)'?$", text, re.MULTILINE))


def commit(settings: dict[str, str]) -> int:
    with psycopg2.connect(
        host=settings["db_host"], port=settings.get("db_port", "5432"),
        dbname=settings["db_database"], user=settings["db_username"],
        password=settings["db_password"], sslmode=settings.get("db_sslmode", "prefer"),
        sslrootcert=settings.get("db_sslrootcert", ""), connect_timeout=3,
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
        settings = database()
        if "db_host" not in settings:
            self.answer(200, f"{HOSTNAME}\n")
            return
        try:
            row = commit(settings)
        except psycopg2.Error as exc:
            self.answer(503, f"{HOSTNAME} database: {str(exc).strip()}\n")
            return
        self.answer(200, f"{HOSTNAME} row {row}\n")

    def log_message(self, *args) -> None:
        """Quiet: the requests are counted by the tests, not logged."""


http.server.ThreadingHTTPServer(("", 8080), Handler).serve_forever()
