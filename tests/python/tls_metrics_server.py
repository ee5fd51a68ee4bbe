"""An HTTPS metrics endpoint for the TLS scrape test (tests/scrape_tls.rs).

Serves a small text exposition on every path except two that check credentials:
/bearer wants `Authorization: Bearer <--bearer>` and /basic wants HTTP basic
authentication with `--basic user:password`; anything else there is answered 401.
With --client-ca the server requires a client certificate signed by that CA; with
--max-tls12 it speaks nothing newer than TLS 1.2. With --alpn-log it offers HTTP/2 and
HTTP/1.1 by ALPN, appends the protocol each connection settled on to that file, and
closes connections that chose HTTP/2 (which this server cannot speak). The bound port is
written to --port-file once the server listens.
"""

import argparse
import base64
import http.server
import os
import ssl
import sys


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--cert", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--port-file", required=True)
    p.add_argument("--name", required=True, help="value of the served metric's label")
    p.add_argument("--client-ca")
    p.add_argument("--max-tls12", action="store_true")
    p.add_argument("--bearer", default="")
    p.add_argument("--basic", default="")
    p.add_argument("--alpn-log")
    args = p.parse_args()

    body = (
        "# HELP tls_test_info Served over HTTPS.\n"
        "# TYPE tls_test_info gauge\n"
        f'tls_test_info{{server="{args.name}"}} 1\n'
    ).encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def authorized(self) -> bool:
            got = self.headers.get("Authorization", "")
            if self.path.startswith("/bearer"):
                return got == f"Bearer {args.bearer}"
            if self.path.startswith("/basic"):
                want = base64.b64encode(args.basic.encode()).decode()
                return got == f"Basic {want}"
            return True

        def do_GET(self) -> None:
            if not self.authorized():
                self.send_response(401)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *a: object) -> None:
            pass

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(args.cert, args.key)
    if args.client_ca:
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(args.client_ca)
    if args.max_tls12:
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    if args.alpn_log:
        ctx.set_alpn_protocols(["h2", "http/1.1"])

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    # Handshakes happen per connection in the handler threads, so a client that fails
    # one (wrong CA, no certificate) cannot stall the listener.
    server.socket = ctx.wrap_socket(
        server.socket, server_side=True, do_handshake_on_connect=False
    )

    original = server.finish_request

    def finish_request(request, client_address):
        try:
            request.do_handshake()
        except (ssl.SSLError, OSError):
            request.close()
            return
        if args.alpn_log:
            chosen = request.selected_alpn_protocol() or "none"
            with open(args.alpn_log, "a") as f:
                f.write(chosen + "\n")
            if chosen == "h2":
                request.close()
                return
        original(request, client_address)

    server.finish_request = finish_request
    with open(args.port_file + ".tmp", "w") as f:
        f.write(str(server.server_address[1]))
    os.replace(args.port_file + ".tmp", args.port_file)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
