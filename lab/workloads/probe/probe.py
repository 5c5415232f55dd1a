"""The lab's probe: answers / on 8080 with the container's hostname and serves the files of
/srv/probe (images built on top of it add a build-id there).

It writes nothing, so it runs with a read-only root filesystem, as any user and with no
capability: the way the lab confines GitLab's stand-in.
"""

import functools
import http.server
import io
import socket

BODY = f"{socket.gethostname()}\n".encode()


class Handler(http.server.SimpleHTTPRequestHandler):
    def send_head(self):
        if self.path.split("?", 1)[0] not in ("/", "/index.html"):
            return super().send_head()
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        return io.BytesIO(BODY)


handler = functools.partial(Handler, directory="/srv/probe")
http.server.ThreadingHTTPServer(("", 8080), handler).serve_forever()
