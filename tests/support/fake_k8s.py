#!/usr/bin/env python3
"""fake_k8s.py - a test Kubernetes API server: list and watch of pods and endpointslices.

Python 3 standard library only. Listens on 127.0.0.1 on an ephemeral port (plain HTTP, or
TLS with --tls-cert/--tls-key) and writes the port to --port-file once it is listening.
Objects, lists, watch events and Status documents are built from the JSON files in
--fixtures (tests/fixtures/k8s, generated from the official Go types by
tests/go/k8sfixtures), so every shape on the wire is the real one.

API (as the real API server answers them, HTTP/1.1):
  GET /api/v1/pods                                        all namespaces
  GET /api/v1/namespaces/{ns}/pods
  GET /apis/discovery.k8s.io/v1/endpointslices            all namespaces
  GET /apis/discovery.k8s.io/v1/namespaces/{ns}/endpointslices
    list:  labelSelector, fieldSelector, limit, continue (pages share one resourceVersion;
           an expired continue token answers 410 Gone)
    watch: watch=1, resourceVersion, allowWatchBookmarks, timeoutSeconds: a chunked stream
           (Transfer-Encoding: chunked) of {"type","object"} events written as they happen,
           each event split across two chunks on purpose; the stream ends normally after
           timeoutSeconds. A resourceVersion older than the last "expire" answers a plain
           410 Gone.
  Every API request needs "Authorization: Bearer <token>" when --token-file is given: the
  accepted tokens are that file's lines, read on every request (the test rotates it);
  anything else gets 401 with the Status document.

Test controls (no authentication; not in the request log):
  POST /_control {"action": ...}
    put {"res": "pods"|"endpointslices", "fixture": "pod-ready", "namespace", "name",
         "set": {"status.podIP": "10.9.0.1", "metadata.labels.app": "x", ...}}
         adds (ADDED) or replaces (MODIFIED) an object; "set" paths are dotted, list indexes
         are numbers, a value null deletes the key
    put_many {"fixture", "namespace", "prefix", "count"}     count pods prefix-0..., IPs 10.100.x.y
    delete {"res", "namespace", "name"}                      DELETED with the last state
    bookmark {}                                              a BOOKMARK to every open watch
    expire {}       every open watch gets an ERROR event (code 410, reason Expired) inside
                    its 200 stream and ends; watches from a resourceVersion older than now
                    answer a plain 410 Gone from then on
    end_watches {}                                  every open watch ends normally
    page_size {"value": n|null}                     at most n items per list page
    expire_continue {}                              the next continue request gets 410
    fault {"kind", "count" (default 1), "op": "list"|"watch"|"any" (default any)}: the next
          `count` matching API requests (after the token check) misbehave; kinds:
            status {"status"}      that status with the fixture's Status (401/403/410/500)
            html {"status"}        a text/html page (default status 200)
            garbage {}             list: a 200 JSON body that is not JSON; watch: a 200
                                   stream whose next event is garbage
            stall {}               list: no answer; watch: 200 headers, then nothing, ever
            huge_event {"bytes"}   watch: an event that never ends (bytes of a string)
            echo_auth {"status"}   a Status (403 by default) whose message quotes the
                                   Authorization header and the bare token
    rotate {"token", "client_file"}  on the next API request: the accepted token becomes
          `token` and it is written (atomically) into client_file, as the kubelet rotates a
          projected token; that request itself is judged with the new token
    reset {}                       objects, faults, the log and the history are forgotten
  GET /_log    {"requests": [{method, path, query, params, op: list|watch, auth: ok|bad|
                none (no Authorization)|open (no --token-file), token: index of the accepted
                token or -1, status, t}]}
  GET /_state  {"rv", "watches": [{res, ns, rv, params}]}  the watches open now

It exits on SIGTERM, when its parent process goes away, or after --lifetime seconds.
"""

import argparse
import base64
import copy
import json
import os
import re
import signal
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

LOCK = threading.Condition(threading.RLock())
FIX = {}
STATE = {}
RESOURCES = {
    "pods": ("podlist.json", "Pod"),
    "endpointslices": ("endpointslicelist.json", "EndpointSlice"),
}
PATHS = [
    (re.compile(r"^/api/v1/pods$"), "pods", None),
    (re.compile(r"^/api/v1/namespaces/([a-z0-9-]+)/pods$"), "pods", 1),
    (re.compile(r"^/apis/discovery\.k8s\.io/v1/endpointslices$"), "endpointslices", None),
    (re.compile(r"^/apis/discovery\.k8s\.io/v1/namespaces/([a-z0-9-]+)/endpointslices$"),
     "endpointslices", 1),
]


def reset_state():
    STATE.clear()
    STATE.update({
        "rv": 10000, "objects": {"pods": {}, "endpointslices": {}}, "events": [],
        "compacted": 0, "faults": [], "log": [], "page_size": None, "snapshots": {},
        "expire_continue": False, "rotate": None, "watches": {}, "watch_id": 0,
        "generation": 0,  # bumped by expire / end_watches / bookmark: open watches look
        "expire_gen": 0, "end_gen": 0,
    })


def next_rv():
    STATE["rv"] += 1
    return STATE["rv"]


def set_path(obj, path, value):
    parts = path.split(".")
    cur = obj
    # label keys may contain dots: metadata.labels.<rest> takes the rest whole
    if len(parts) > 2 and parts[0] == "metadata" and parts[1] in ("labels", "annotations"):
        parts = parts[:2] + [".".join(parts[2:])]
    for p in parts[:-1]:
        if isinstance(cur, list):
            cur = cur[int(p)]
        else:
            cur = cur.setdefault(p, {})
    last = parts[-1]
    if isinstance(cur, list):
        cur[int(last)] = value
    elif value is None:
        cur.pop(last, None)
    else:
        cur[last] = value


def label_match(labels, sel):
    """Equality-based label selectors (k=v, k==v, k!=v, k, !k), comma = AND."""
    if not sel:
        return True
    for term in sel.split(","):
        term = term.strip()
        if not term:
            continue
        if "!=" in term:
            k, v = term.split("!=", 1)
            if labels.get(k.strip()) == v.strip():
                return False
        elif "==" in term or "=" in term:
            k, v = re.split("==?", term, 1)
            if labels.get(k.strip()) != v.strip():
                return False
        elif term.startswith("!"):
            if term[1:] in labels:
                return False
        elif term not in labels:
            return False
    return True


def field_match(obj, sel):
    if not sel:
        return True
    for term in sel.split(","):
        neg = "!=" in term
        k, v = re.split("!=|==|=", term, 1)
        cur = obj
        for p in k.strip().split("."):
            cur = cur.get(p, {}) if isinstance(cur, dict) else {}
        got = cur if isinstance(cur, str) else ""
        if (got == v.strip()) == neg:
            return False
    return True


def selected(obj, ns, params):
    md = obj.get("metadata", {})
    if ns is not None and md.get("namespace") != ns:
        return False
    return (label_match(md.get("labels") or {}, params.get("labelSelector", ""))
            and field_match(obj, params.get("fieldSelector", "")))


def status_doc(code):
    name = {401: "status-401.json", 403: "status-403.json", 410: "status-410.json",
            500: "status-500.json"}.get(code)
    if name:
        return copy.deepcopy(FIX[name])
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": "fake status %d" % code, "code": code}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-k8s"
    sys_version = ""

    def log_message(self, *a):
        pass

    # ---- plumbing ----
    def send_json(self, code, doc, ctype="application/json"):
        body = json.dumps(doc, separators=(",", ":")).encode() if not isinstance(doc, bytes) else doc
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-cache, private")
        self.end_headers()
        self.wfile.write(body)

    def chunk(self, data):
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def do_POST(self):
        u = urlsplit(self.path)
        n = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(n) or b"{}")
        if u.path != "/_control":
            return self.send_json(404, status_doc(404))
        with LOCK:
            r = control(body)
            LOCK.notify_all()
        self.send_json(200, r if r is not None else {"ok": True})

    def do_GET(self):
        u = urlsplit(self.path)
        if u.path == "/_log":
            with LOCK:
                return self.send_json(200, {"requests": STATE["log"]})
        if u.path == "/_state":
            with LOCK:
                return self.send_json(200, {"rv": STATE["rv"],
                                            "watches": list(STATE["watches"].values())})
        params = {k: v[-1] for k, v in parse_qs(u.query, keep_blank_values=True).items()}
        res = ns = None
        for rx, r, g in PATHS:
            m = rx.match(u.path)
            if m:
                res, ns = r, (m.group(g) if g else None)
                break
        op = "watch" if params.get("watch") in ("1", "true") else "list"
        with LOCK:
            entry = {"method": "GET", "path": u.path, "query": u.query, "params": params,
                     "op": op, "t": time.time(), "status": 0}
            STATE["log"].append(entry)
            rot = STATE["rotate"]
            if rot:
                STATE["rotate"] = None
                with open(self.server.token_file, "w") as f:
                    f.write(rot["token"] + "\n")
                tmp = rot["client_file"] + ".tmp"
                with open(tmp, "w") as f:
                    f.write(rot["token"] + "\n")
                os.rename(tmp, rot["client_file"])
            auth, idx = self.check_token()
            entry["auth"], entry["token"] = auth, idx
            fault = None
            if res is not None and auth in ("ok", "open"):
                for f in STATE["faults"]:
                    if f["count"] > 0 and f.get("op", "any") in ("any", op):
                        f["count"] -= 1
                        fault = f
                        break
        if res is None:
            entry["status"] = 404
            return self.send_json(404, status_doc(404))
        if auth not in ("ok", "open"):
            entry["status"] = 401
            return self.send_json(401, status_doc(401))
        if fault:
            if self.apply_fault(fault, op, entry):
                return
        if op == "watch":
            return self.watch(res, ns, params, entry, fault)
        return self.list(res, ns, params, entry)

    def check_token(self):
        tf = self.server.token_file
        if not tf:
            return "open", -1
        try:
            with open(tf) as f:
                tokens = [t.strip() for t in f.read().splitlines() if t.strip()]
        except OSError:
            tokens = []
        h = self.headers.get("Authorization") or ""
        if not h:
            return "none", -1
        if h.startswith("Bearer ") and h[7:] in tokens:
            return "ok", tokens.index(h[7:])
        return "bad", -1

    def apply_fault(self, f, op, entry):
        """Answers the request per the fault; False when the handler must go on."""
        k = f["kind"]
        if k == "status":
            entry["status"] = f["status"]
            self.send_json(f["status"], status_doc(f["status"]))
            return True
        if k == "echo_auth":
            # a careless proxy quoting the request's credentials back
            code = f.get("status", 403)
            entry["status"] = code
            doc = status_doc(403)
            doc["code"] = code
            doc["message"] = "denied for Authorization: %s (token %s)" % (
                self.headers.get("Authorization"), (self.headers.get("Authorization") or "")[7:])
            self.send_json(code, doc)
            return True
        if k == "html":
            code = f.get("status", 200)
            entry["status"] = code
            page = (b"<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head>"
                    b"<body><h1>Bad Gateway</h1><p>nginx</p></body></html>\n")
            self.send_json(code, page, "text/html; charset=utf-8")
            return True
        if k == "garbage" and op == "list":
            entry["status"] = 200
            self.send_json(200, b'{"kind":"PodList","apiVersion":"v1","items":[{"metadata":\x00garbage',
                           "application/json")
            return True
        if k == "stall" and op == "list":
            entry["status"] = -1
            time.sleep(3600)
            return True
        return False  # watch faults run inside the stream

    # ---- list ----
    def list(self, res, ns, params, entry):
        tmpl_name, _ = RESOURCES[res]
        with LOCK:
            cont = params.get("continue")
            if cont:
                if STATE["expire_continue"]:
                    STATE["expire_continue"] = False
                    entry["status"] = 410
                    return self.send_json(410, status_doc(410))
                try:
                    tok = json.loads(base64.urlsafe_b64decode(cont.encode()))
                    snap = STATE["snapshots"][tok["id"]]
                    start, rv = tok["start"], tok["rv"]
                except Exception:
                    entry["status"] = 400
                    return self.send_json(400, status_doc(400))
            else:
                snap_items = sorted(
                    (copy.deepcopy(o) for (ons, _), o in STATE["objects"][res].items()
                     if selected(o, ns, params)),
                    key=lambda o: (o["metadata"]["namespace"], o["metadata"]["name"]))
                sid = len(STATE["snapshots"])
                STATE["snapshots"][sid] = snap_items
                snap, start, rv, tok = snap_items, 0, STATE["rv"], {"id": sid}
            limit = int(params.get("limit") or 0)
            ps = STATE["page_size"]
            n = len(snap) - start
            if limit > 0:
                n = min(n, limit)
            if ps:
                n = min(n, ps)
            doc = copy.deepcopy(FIX[tmpl_name])
            doc["items"] = snap[start:start + n]
            doc["metadata"] = {"resourceVersion": str(rv)}
            if start + n < len(snap):
                doc["metadata"]["continue"] = base64.urlsafe_b64encode(json.dumps(
                    {"id": tok["id"], "start": start + n, "rv": rv}).encode()).decode()
                doc["metadata"]["remainingItemCount"] = len(snap) - start - n
            entry["status"] = 200
        self.send_json(200, doc)

    # ---- watch ----
    def watch(self, res, ns, params, entry, fault):
        rv_param = params.get("resourceVersion", "")
        with LOCK:
            try:
                since = int(rv_param) if rv_param not in ("", "0") else None
            except ValueError:
                since = -1
            if since is not None and since < STATE["compacted"]:
                entry["status"] = 410
                doc = copy.deepcopy(FIX["watch-error-410.json"]["object"])
                doc["message"] = "too old resource version: %s (%d)" % (rv_param, STATE["compacted"])
                return self.send_json(410, doc)
            if since is None:  # "now", after synthetic ADDED events for what exists
                pending = [("ADDED", o) for o in STATE["objects"][res].values() if selected(o, ns, params)]
                since = STATE["rv"]
            else:
                pending = []
            STATE["watch_id"] += 1
            wid = STATE["watch_id"]
            STATE["watches"][wid] = {"res": res, "ns": ns, "rv": since, "params": params}
            expire_gen, end_gen, bm_gen = STATE["expire_gen"], STATE["end_gen"], STATE["generation"]
            entry["status"] = 200
        timeout = int(params.get("timeoutSeconds") or 1800)
        deadline = time.time() + timeout
        try:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Transfer-Encoding", "chunked")
            self.send_header("Cache-Control", "no-cache, private")
            self.end_headers()
            self.wfile.flush()
            kind = fault["kind"] if fault else None
            if kind == "stall":
                while True:
                    time.sleep(1)
                    # a client that gave up leaves a dead socket: writing nothing, we only
                    # learn it at exit; the thread is a daemon thread
            if kind == "huge_event":
                self.chunk(b'{"type":"ADDED","object":{"metadata":{"name":"')
                left = int(fault.get("bytes", 8 << 20))
                while left > 0:
                    self.chunk(b"x" * min(left, 65536))
                    left -= 65536
                while True:
                    time.sleep(1)
            for typ, o in pending:
                self.send_event(typ, o)
            if kind == "garbage":
                self.chunk(b'{"type":"ADDED","object":{"kind":"Pod"}}\n<html>oops</html>\n')
                while True:
                    time.sleep(1)
            while True:
                with LOCK:
                    evs = [e for e in STATE["events"] if e[0] > since and e[1] == res
                           and selected(e[3], ns, params)]
                    if evs:
                        since = evs[-1][0]
                        STATE["watches"][wid]["rv"] = since
                    expired = STATE["expire_gen"] != expire_gen
                    ended = STATE["end_gen"] != end_gen
                    bookmark = STATE["generation"] != bm_gen
                    bm_gen = STATE["generation"]
                    if not (evs or expired or ended or bookmark):
                        left = deadline - time.time()
                        if left <= 0:
                            break
                        LOCK.wait(min(left, 0.5))
                        continue
                for rv, _, typ, o in evs:
                    self.send_event(typ, o)
                if bookmark and params.get("allowWatchBookmarks") == "true":
                    b = copy.deepcopy(FIX["watch-bookmark.json"])
                    with LOCK:
                        b["object"]["metadata"]["resourceVersion"] = str(STATE["rv"])
                        since = max(since, STATE["rv"])
                    if res == "endpointslices":
                        b["object"] = {"kind": "EndpointSlice", "apiVersion": "discovery.k8s.io/v1",
                                       "metadata": b["object"]["metadata"], "addressType": "", "endpoints": None, "ports": None}
                    self.send_raw_event(json.dumps(b, separators=(",", ":")).encode())
                if expired:
                    self.send_raw_event(json.dumps(FIX["watch-error-410.json"], separators=(",", ":")).encode())
                    break
                if ended:
                    break
            self.chunk(b"")  # the last chunk: the stream ends normally
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, OSError):
            self.close_connection = True
        finally:
            with LOCK:
                STATE["watches"].pop(wid, None)

    def send_event(self, typ, obj):
        self.send_raw_event(json.dumps({"type": typ, "object": obj}, separators=(",", ":")).encode())

    def send_raw_event(self, data):
        # an event is not a chunk: split it in two (the second half with the newline the
        # API server's encoder writes), flushed apart
        half = len(data) // 2
        self.chunk(data[:half])
        time.sleep(0.005)
        self.chunk(data[half:] + b"\n")


def control(c):
    a = c.get("action")
    if a == "reset":
        reset_state()
    elif a == "put":
        res = c["res"]
        obj = copy.deepcopy(FIX[c["fixture"] + ".json"])
        md = obj["metadata"]
        md["namespace"], md["name"] = c["namespace"], c["name"]
        md["uid"] = "%08x-0000-4000-8000-%012x" % (hash(c["name"]) & 0xffffffff, STATE["rv"])
        for k, v in (c.get("set") or {}).items():
            set_path(obj, k, v)
            if k == "status.podIP":
                set_path(obj, "status.podIPs", [{"ip": v}] if v else None)
        key = (c["namespace"], c["name"])
        typ = "MODIFIED" if key in STATE["objects"][res] else "ADDED"
        rv = next_rv()
        md["resourceVersion"] = str(rv)
        STATE["objects"][res][key] = obj
        STATE["events"].append((rv, res, typ, copy.deepcopy(obj)))
        return {"rv": rv, "type": typ}
    elif a == "put_many":
        # count pods NAME-0..count-1 with pod IPs 10.100.x.y, one event each
        for i in range(c["count"]):
            control({"action": "put", "res": c.get("res", "pods"), "fixture": c["fixture"],
                     "namespace": c["namespace"], "name": "%s-%d" % (c["prefix"], i),
                     "set": {"status.podIP": "10.%d.%d.%d" % (100 + i // 65536, (i // 256) % 256, i % 256)}})
    elif a == "delete":
        res = c["res"]
        obj = STATE["objects"][res].pop((c["namespace"], c["name"]))
        rv = next_rv()
        obj["metadata"]["resourceVersion"] = str(rv)
        STATE["events"].append((rv, res, "DELETED", obj))
        return {"rv": rv}
    elif a == "bookmark":
        next_rv()
        STATE["generation"] += 1
    elif a == "expire":
        # the history before now is gone: a watch from an older resourceVersion gets 410;
        # a list made from now on gives one that can be watched
        STATE["compacted"] = next_rv()
        STATE["expire_gen"] += 1
    elif a == "end_watches":
        STATE["end_gen"] += 1
    elif a == "page_size":
        STATE["page_size"] = c.get("value")
    elif a == "expire_continue":
        STATE["expire_continue"] = True
    elif a == "fault":
        f = dict(c)
        f["count"] = c.get("count", 1)
        STATE["faults"].append(f)
    elif a == "rotate":
        STATE["rotate"] = {"token": c["token"], "client_file": c["client_file"]}
    else:
        return {"error": "unknown action %r" % a}
    return None


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        pass  # a client that hung up or refused our certificate


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--fixtures", required=True)
    ap.add_argument("--token-file")
    ap.add_argument("--tls-cert")
    ap.add_argument("--tls-key")
    ap.add_argument("--lifetime", type=float, default=300)
    args = ap.parse_args()
    for n in os.listdir(args.fixtures):
        if n.endswith(".json"):
            with open(os.path.join(args.fixtures, n)) as f:
                FIX[n] = json.load(f)
    reset_state()
    srv = Server(("127.0.0.1", 0), Handler)
    srv.token_file = args.token_file
    if args.tls_cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.tls_cert, args.tls_key)
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    port = srv.server_address[1]
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % port)
    os.rename(tmp, args.port_file)

    parent = os.getppid()

    def reaper():
        end = time.time() + args.lifetime
        while time.time() < end and os.getppid() == parent:
            time.sleep(0.5)
        os._exit(0)

    threading.Thread(target=reaper, daemon=True).start()
    signal.signal(signal.SIGTERM, lambda *a: os._exit(0))
    srv.serve_forever(poll_interval=0.2)


if __name__ == "__main__":
    main()
