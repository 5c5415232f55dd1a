"""Subprocess helpers: `docker()` and friends raise LabError carrying the command's stderr."""

from __future__ import annotations

import subprocess
import time


class LabError(RuntimeError):
    """A failure the CLI reports as one clear message, without a traceback."""


def log(msg: str) -> None:
    print(f"[lab] {msg}", flush=True)


def elapsed(start: float) -> str:
    return f"{time.monotonic() - start:.1f}s"


def run(*args: str, check: bool = True, stdin: str | None = None, timeout: float | None = None):
    try:
        proc = subprocess.run(
            args, input=stdin, capture_output=True, text=True, timeout=timeout, check=False
        )
    except FileNotFoundError as exc:
        raise LabError(f"{args[0]} is not installed (the lab needs it)") from exc
    except subprocess.TimeoutExpired as exc:
        if check:
            raise LabError(f"`{' '.join(args[:4])} ...` timed out after {timeout}s") from exc
        return subprocess.CompletedProcess(args, 124, "", "timed out")
    if check and proc.returncode != 0:
        err = proc.stderr.strip()[-2000:]
        if "Cannot connect to the Docker daemon" in err:
            err += "\nno Docker engine answers: run scripts/ensure-docker.sh"
        raise LabError(f"`{' '.join(args[:4])} ...` failed (exit {proc.returncode}):\n{err}")
    return proc


def docker(*args: str, check: bool = True, stdin: str | None = None, timeout: float | None = None):
    """`docker ARGS` -> its stripped stdout (raises LabError with stderr unless check=False)."""
    return run("docker", *args, check=check, stdin=stdin, timeout=timeout).stdout.strip()


def exists(kind: str, name: str) -> bool:
    return run("docker", kind, "inspect", name, check=False).returncode == 0
