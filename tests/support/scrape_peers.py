#!/usr/bin/env python3
"""The peers a scrape talks to, for tests/unit/test_scrape_opts.c: real servers on loopback.

  scrape_peers.py server BIND PORT [--cert F --key F] [--client-ca F]
      An HTTP/1.1 server (HTTPS with --cert/--key; client certificates from --client-ca
      required). Every answer is 200 with a body that tells what it saw, one "key=value" a
      line: host (the Host header), authz (the Authorization header), sni (the TLS server
      name), peer (the client certificate's CN), addr (the address it listens on).
      /echo answers 401 with the Authorization header quoted on the first line (as a
      careless server would). /wait?f=PATH waits (at most 20 s) until PATH exists, and
      /touch?f=PATH creates PATH (two scrapes that must run at the same time).
  scrape_peers.py proxy BIND [--auth USER:PASSWORD] [--log FILE]
      A forward proxy that tunnels (CONNECT) only, appending "CONNECT host:port" to FILE
      for each tunnel; with --auth, a tunnel needs that Proxy-Authorization (else 407).

Each prints its port on the first line of stdout and runs until stdin is closed (so a
test that dies leaves nothing behind).
"""
import base64
import os
import select
import socket
import socketserver
import ssl
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        q = urllib.parse.parse_qs(url.query)
        authz = self.headers.get("Authorization", "")
        if url.path == "/echo":
            body = "denied: Authorization=%s\n" % authz
            return self.answer(401, body)
        waited = ""
        if url.path == "/wait":
            deadline = time.monotonic() + 20
            while not os.path.exists(q["f"][0]) and time.monotonic() < deadline:
                time.sleep(0.02)
            waited = "waited=%s\n" % ("yes" if os.path.exists(q["f"][0]) else "no")
        if url.path == "/touch":
            open(q["f"][0], "w").close()
        conn = self.connection
        sni = getattr(conn, "cpgo_sni", None) or ""
        peer = ""
        if isinstance(conn, ssl.SSLSocket):
            cert = conn.getpeercert()
            if cert:
                for rdn in cert.get("subject", ()):
                    for k, v in rdn:
                        if k == "commonName":
                            peer = v
        addr = "%s:%d" % conn.getsockname()[:2]  # "::1:8080" for IPv6: only compared
        body = "host=%s\nauthz=%s\nsni=%s\npeer=%s\naddr=%s\n%s" % (
            self.headers.get("Host", ""), authz, sni, peer, addr, waited)
        self.answer(200, body)

    def answer(self, status, body):
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class TLSServer(ThreadingHTTPServer):
    daemon_threads = True
    ctx = None

    def get_request(self):
        sock, addr = self.socket.accept()
        if self.ctx:
            # the handshake runs in the request's thread (finish_request), not here
            sock = self.ctx.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return sock, addr

    def finish_request(self, request, client_address):
        if self.ctx:
            try:
                request.settimeout(20)
                request.do_handshake()
            except (ssl.SSLError, OSError):
                # A lingering close: read what the client still sends (TLS 1.3 clients
                # send their request before they see our alert) so the kernel sends FIN,
                # not RST, and the client reads the alert instead of a reset.
                try:
                    raw = socket.socket(fileno=request.detach())
                    raw.shutdown(socket.SHUT_WR)
                    raw.settimeout(2)
                    while raw.recv(65536):
                        pass
                except OSError:
                    pass
                return
        super().finish_request(request, client_address)


def server(args):
    bind, port = args[0], int(args[1])
    opts = dict(zip(args[2::2], args[3::2]))
    if ":" in bind:
        TLSServer.address_family = socket.AF_INET6
    httpd = TLSServer((bind, port), Handler)
    if "--cert" in opts:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(opts["--cert"], opts["--key"])
        if "--client-ca" in opts:
            ctx.verify_mode = ssl.CERT_REQUIRED
            ctx.load_verify_locations(opts["--client-ca"])

        def on_sni(sslsock, name, _ctx):
            sslsock.cpgo_sni = name

        ctx.sni_callback = on_sni
        httpd.ctx = ctx
    return httpd


class ProxyHandler(socketserver.StreamRequestHandler):
    auth = None
    log = None

    def handle(self):
        head = []
        while True:
            line = self.rfile.readline(65536)
            if not line or line in (b"\r\n", b"\n"):
                break
            head.append(line.decode("latin-1").rstrip("\r\n"))
        if not head:
            return
        method, target = head[0].split(" ")[:2]
        if method != "CONNECT":
            self.wfile.write(b"HTTP/1.1 501 tunnels only\r\nContent-Length: 0\r\n\r\n")
            return
        if self.auth:
            want = "Basic " + base64.b64encode(self.auth.encode()).decode()
            got = [h.split(":", 1)[1].strip() for h in head[1:]
                   if h.lower().startswith("proxy-authorization:")]
            if got != [want]:
                self.wfile.write(b"HTTP/1.1 407 Proxy Authentication Required\r\n"
                                 b"Proxy-Authenticate: Basic realm=\"t\"\r\n"
                                 b"Content-Length: 0\r\n\r\n")
                return
        if self.log:
            with open(self.log, "a") as f:
                f.write("CONNECT %s\n" % target)
        host, port = target.rsplit(":", 1)
        try:
            up = socket.create_connection((host.strip("[]"), int(port)), timeout=10)
        except OSError:
            self.wfile.write(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
            return
        self.wfile.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        self.wfile.flush()
        up.settimeout(None)
        client = self.connection
        pend = self.rfile.peek() if hasattr(self.rfile, "peek") else b""
        if pend:
            up.sendall(self.rfile.read(len(pend)))
        socks = [client, up]
        while True:
            r, _, _ = select.select(socks, [], [], 60)
            if not r:
                break
            done = False
            for s in r:
                data = s.recv(65536)
                if not data:
                    done = True
                    break
                (up if s is client else client).sendall(data)
            if done:
                break
        up.close()


class ProxyServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


def proxy(args):
    bind = args[0]
    opts = dict(zip(args[1::2], args[2::2]))
    ProxyHandler.auth = opts.get("--auth")
    ProxyHandler.log = opts.get("--log")
    return ProxyServer((bind, 0), ProxyHandler)


def main():
    kind, args = sys.argv[1], sys.argv[2:]
    srv = server(args) if kind == "server" else proxy(args)
    print(srv.server_address[1], flush=True)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    sys.stdin.read()  # until the test closes our stdin (or dies)


if __name__ == "__main__":
    main()
