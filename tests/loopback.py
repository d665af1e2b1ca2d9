"""A loopback HTTP file server for download tests: honours Range, can cut a response short."""

from __future__ import annotations

import http.server
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager


class FileServer:
    def __init__(self, payload: bytes, honour_range: bool = True, cut_after: int | None = None):
        self.payload, self.honour_range, self.cut_after = payload, honour_range, cut_after
        self.ranges: list[str | None] = []  # the Range header of each request


def _handler(server_state: FileServer):
    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):  # keep test output clean
            pass

        def do_GET(self):
            state = server_state
            asked = self.headers.get("Range")
            state.ranges.append(asked)
            data, start = state.payload, 0
            match = re.match(r"bytes=(\d+)-$", asked or "")
            if match and state.honour_range:
                start = int(match.group(1))
                if start >= len(data):
                    self.send_response(416)
                    self.end_headers()
                    return
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            else:
                self.send_response(200)
            body = data[start:]
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if state.cut_after is not None:
                body = body[: state.cut_after]
                state.cut_after = None  # only the first response is cut
                self.wfile.write(body)
                self.wfile.flush()
                self.close_connection = True
                return
            self.wfile.write(body)

    return Handler


@contextmanager
def serve(state: FileServer) -> Iterator[str]:
    """Serve ``state.payload`` on 127.0.0.1 at a free port; yields the file's URL."""
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/kagglecatsanddogs_5340.zip"
    finally:
        httpd.shutdown()
        httpd.server_close()
