# Copyright (c) dockhand contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""A small Docker Engine API client over the unix socket, standard library only.

Targets have nothing but their system python3, so this stands in for the docker SDK: one
generic request core (``get``/``post``/``put``/``delete``), a reader for the endpoints that
answer with a stream of JSON messages, and the few lookups the modules share.
"""

from __future__ import annotations

import codecs
import contextlib
import http.client
import json
import os
import socket
from urllib.parse import quote, urlencode

from ansible_collections.dockhand.docker.plugins.module_utils.base import version_tuple

# The newest API version whose behaviour the modules are written against. Daemons that no
# longer accept it (MinAPIVersion above it) are spoken to in their oldest version instead.
MAX_API_VERSION = "1.41"
# Streams (load, pull, push, build) can sit silent for minutes while the daemon works.
STREAM_TIMEOUT = 600


class EngineError(Exception):
    """The daemon refused a request; ``status`` is the HTTP status, None if it never answered."""

    def __init__(self, status, message):
        super().__init__(message if status is None else f"{message} (HTTP {status})")
        self.status = status
        self.message = message


class NotFound(EngineError):
    """HTTP 404: no such container, image, network, ..."""


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, socket_path, timeout):
        super().__init__("localhost", timeout=timeout, blocksize=65536)
        self.socket_path = socket_path

    def connect(self):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self.socket_path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


def name_in_path(name):
    """Quote an image, container or network name for use inside a URL path."""
    return quote(str(name), safe="/:@")


def _query(params):
    pairs = []
    for key, value in (params or {}).items():
        if isinstance(value, bool):
            pairs.append((key, "1" if value else "0"))
        elif isinstance(value, (dict, list)):
            pairs.append((key, json.dumps(value)))
        elif value is not None:
            pairs.append((key, value))
    return "?" + urlencode(pairs) if pairs else ""


def _error_message(raw):
    text = raw.decode("utf-8", "replace").strip()
    try:
        data = json.loads(text)
    except ValueError:
        return text or "no message"
    if isinstance(data, dict) and data.get("message"):
        return str(data["message"]).strip()
    return text


def _stream_error(message):
    """The error a streamed message reports, or None."""
    if not isinstance(message, dict):
        return None
    detail = message.get("errorDetail") or {}
    if message.get("error") or detail:
        return str(message.get("error") or detail.get("message") or detail).strip()
    return None


class EngineClient:
    def __init__(self, socket_path="/var/run/docker.sock", timeout=60, api_version=None):
        self.socket_path = socket_path
        self.timeout = timeout
        self._api_version = api_version
        self.server = None  # GET /version, once negotiated

    @property
    def api_version(self):
        if self._api_version is None:
            self.server = self.request("GET", "/version", versioned=False) or {}
            server_max = self.server.get("ApiVersion") or MAX_API_VERSION
            server_min = self.server.get("MinAPIVersion") or server_max
            chosen = min(server_max, MAX_API_VERSION, key=version_tuple)
            self._api_version = max(chosen, server_min, key=version_tuple)
        return self._api_version

    def _open(self, method, path, params, body, headers, timeout, versioned=True):
        """Send a request; the open connection and a response that is not an error."""
        url = (f"/v{self.api_version}{path}" if versioned else path) + _query(params)
        headers = dict(headers or {})
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode("utf-8")
            headers.setdefault("Content-Type", "application/json")
        elif hasattr(body, "read") and "Content-Length" not in headers:
            # A file's size when it has one; other readables go chunked.
            with contextlib.suppress(AttributeError, OSError, ValueError):
                headers["Content-Length"] = str(os.fstat(body.fileno()).st_size)
        conn = UnixHTTPConnection(self.socket_path, timeout or self.timeout)
        try:
            # When the daemon refuses an upload early, its answer says why.
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                conn.request(method, url, body=body, headers=headers)
            response = conn.getresponse()
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            raise EngineError(None, f"cannot talk to the Docker daemon at {self.socket_path}: "
                                    f"{exc or type(exc).__name__}") from exc
        if response.status >= 400:
            raw = response.read()
            conn.close()
            error = NotFound if response.status == 404 else EngineError
            raise error(response.status, _error_message(raw))
        return conn, response

    def request(self, method, path, params=None, body=None, headers=None, timeout=None,
                versioned=True):
        """The answer: parsed JSON, str for text/*, bytes for anything else, None if empty."""
        conn, response = self._open(method, path, params, body, headers, timeout, versioned)
        try:
            raw = response.read()
        finally:
            conn.close()
        content_type = response.getheader("Content-Type") or ""
        if not raw:
            return None
        if "json" in content_type:
            return json.loads(raw)
        if content_type.startswith("text/"):
            return raw.decode("utf-8", "replace")
        return raw

    def get(self, path, params=None, **kwargs):
        return self.request("GET", path, params=params, **kwargs)

    def post(self, path, params=None, body=None, **kwargs):
        return self.request("POST", path, params=params, body=body, **kwargs)

    def delete(self, path, params=None, **kwargs):
        return self.request("DELETE", path, params=params, **kwargs)

    def stream(self, method, path, params=None, body=None, headers=None, timeout=None):
        """Every message of a JSON-lines answer; EngineError on the first error message."""
        conn, response = self._open(method, path, params, body, headers,
                                    timeout or max(self.timeout, STREAM_TIMEOUT))
        decoder = json.JSONDecoder()
        utf8 = codecs.getincrementaldecoder("utf-8")("replace")
        messages, buffer = [], ""
        try:
            while True:
                chunk = response.read1(65536)
                buffer += utf8.decode(chunk, final=not chunk)
                position = 0
                while True:
                    while position < len(buffer) and buffer[position].isspace():
                        position += 1
                    try:
                        message, position = decoder.raw_decode(buffer, position)
                    except ValueError:
                        break
                    error = _stream_error(message)
                    if error:
                        raise EngineError(response.status, error)
                    messages.append(message)
                buffer = buffer[position:]
                if not chunk:
                    break
        except (OSError, http.client.HTTPException) as exc:
            raise EngineError(None, f"lost the Docker daemon's answer: {exc}") from exc
        finally:
            conn.close()
        if buffer.strip():
            raise EngineError(response.status, f"unreadable answer from the daemon: {buffer[:200]}")
        return messages

    # -- streaming endpoints ---------------------------------------------------------------

    def load_image(self, fileobj, timeout=None):
        """POST /images/load, streaming an open ``docker save`` tarball (gzip is fine)."""
        return self.stream("POST", "/images/load", params={"quiet": False}, body=fileobj,
                           headers={"Content-Type": "application/x-tar"}, timeout=timeout)

    # -- lookups ---------------------------------------------------------------------------

    def image(self, name):
        """Image inspect, or None when the host does not have it."""
        try:
            return self.get(f"/images/{name_in_path(name)}/json")
        except NotFound:
            return None

    def image_id(self, name):
        found = self.image(name)
        return found["Id"] if found else None

    def container(self, name):
        """Container inspect by exact name or full ID (not an ID prefix), or None."""
        try:
            found = self.get(f"/containers/{name_in_path(name)}/json")
        except NotFound:
            return None
        if name in (found.get("Id"), found.get("Name", "").lstrip("/")):
            return found
        return None
