"""Make PostgreSQL users and databases on the leader, changing only what differs.

Standard input (JSON): [{kind: user, name, password} | {kind: database, name, owner}]; the
argument: PostgreSQL's port. A user whose password already logs in is left alone, so that an
unchanged user costs no ALTER. Prints "changed <kind> <name>" for each change. Run as root on
the leader; psql runs as postgres.
"""

import json
import os
import subprocess
import sys

PORT = sys.argv[1]


def psql(sql: str, **variables: str) -> str:
    argv = ["runuser", "-u", "postgres", "--", "psql", "-p", PORT, "-X", "-At",
            "-v", "ON_ERROR_STOP=1"]
    for key, value in variables.items():
        argv += ["-v", f"{key}={value}"]
    done = subprocess.run(argv, input=sql, capture_output=True, text=True, check=False)
    if done.returncode:
        sys.exit(f"psql failed: {done.stderr.strip()}")
    return done.stdout.strip()


def logs_in(name: str, password: str) -> bool:
    env = dict(os.environ, PGPASSWORD=password, PGCONNECT_TIMEOUT="5")
    done = subprocess.run(
        ["psql", f"host=127.0.0.1 port={PORT} user={name} dbname=postgres sslmode=require",
         "-X", "-Atc", "select 1"], env=env, capture_output=True, text=True, check=False)
    return done.returncode == 0


for account in json.load(sys.stdin):
    name = account["name"]
    if account["kind"] == "user":
        if logs_in(name, account["password"]):
            continue
        psql("SELECT format(CASE WHEN EXISTS (SELECT FROM pg_roles WHERE rolname = :'name')"
             " THEN 'ALTER ROLE %I LOGIN PASSWORD %L' ELSE 'CREATE ROLE %I LOGIN PASSWORD %L' END,"
             " :'name', :'password') \\gexec\n", name=name, password=account["password"])
    else:
        if psql("SELECT 1 FROM pg_database WHERE datname = :'name'\n", name=name):
            continue
        psql("SELECT format('CREATE DATABASE %I OWNER %I', :'name', :'owner') \\gexec\n",
             name=name, owner=account["owner"])
    print(f"changed {account['kind']} {name}")
