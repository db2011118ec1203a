"""A stand-in for `devpi-like serve`, used only by test_harness.py to check the
harness itself (port discovery, restart, kill -9, raw HTTP reader) without the
real binary. It speaks just enough: GET /+api with devpi headers, keep-alive.
"""

import argparse
import json
import os
import secrets
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("cmd")
    ap.add_argument("--serverdir", required=True)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--root-passwd")
    ap.add_argument("--threads")
    a = ap.parse_args()
    os.makedirs(a.serverdir, exist_ok=True)
    marker = os.path.join(a.serverdir, "initialized")
    if not os.path.exists(marker):
        pw = a.root_passwd
        if pw is None:
            pw = secrets.token_hex(8)
            print(f"root password: {pw}", file=sys.stderr, flush=True)
        with open(marker, "w") as f:
            f.write(pw)
    uuid = "0123456789abcdef0123456789abcdef"

    class H(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def do_GET(self):
            body = (json.dumps({"type": "apiconfig", "result": {"path": self.path}},
                               indent=2) + "\n").encode()
            self.send_response(200 if self.path == "/+api" or self.path.startswith("/+api?") else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            for k, v in (("X-DEVPI-API-VERSION", "2"), ("X-DEVPI-SERVER-VERSION", "fake"),
                         ("X-DEVPI-UUID", uuid), ("X-DEVPI-PRIMARY-UUID", uuid),
                         ("X-DEVPI-MASTER-UUID", uuid), ("X-DEVPI-SERIAL", "0")):
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)

    srv = ThreadingHTTPServer((a.host, a.port), H)
    print(f"fake: listening on http://{a.host}:{srv.server_address[1]}", file=sys.stderr, flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
