#!/usr/bin/env python3
"""fake_github.py - a stateful fake of the GitHub REST API's pull-request endpoints, for tests.

Python 3 standard library only. Listens on 127.0.0.1 on an ephemeral port and writes the
port to --port-file (atomically, once it is listening). The token it accepts comes from
$FAKE_GITHUB_TOKEN (or --token).

Endpoints, with paths, methods, parameters, status codes and JSON bodies as GitHub's REST
documentation gives them (API version 2022-11-28):
  GET   /repos/{owner}/{repo}/pulls           state=open|closed|all, head=user:ref, base,
                                              sort=created, direction, per_page (<=100),
                                              page; Link header (first/prev/next/last)
  GET   /repositories/{id}/pulls              the same (GitHub's Link URLs use this form)
  POST  /repos/{owner}/{repo}/pulls           {title, head, base, body, draft}: 201
                                              422 "A pull request already exists for o:b."
  GET   /repos/{owner}/{repo}/pulls/{number}  the full pull request (merged, mergeable...)
  PATCH /repos/{owner}/{repo}/pulls/{number}  {title, body, state, base}
  POST  /repos/{owner}/{repo}/issues/{number}/labels      {labels: [names]} (or a bare array):
                                              200 the issue's labels. GitHub creates a label
                                              that does not exist yet (its documented
                                              behaviour); control labels_strict makes an
                                              unknown label a 422 instead
  POST  /repos/{owner}/{repo}/issues/{number}/assignees   {assignees: [logins]}: 201 the issue
  POST  /repos/{owner}/{repo}/pulls/{number}/requested_reviewers  {reviewers, team_reviewers}:
                                              201 the pull request; 422 "Review cannot be
                                              requested from pull request author."
  POST  /graphql                              enablePullRequestAutoMerge(input:
                                              {pullRequestId, mergeMethod}): the PR's node_id;
                                              errors as GitHub reports them (200 with "errors")
GitHub App (docs.github.com/rest/apps/apps), with the app's JWT (RS256, verified with the
public key of --app-public-key / the app control: signature, exp in the future, iat at most
60 s ahead, exp - iat <= 600, iss == the app id) as "Authorization: Bearer <JWT>":
  GET   /app                                  the app
  GET   /repos/{owner}/{repo}/installation    the installation (404 when not installed)
  POST  /app/installations/{id}/access_tokens 201 {token "ghs_...", expires_at, permissions,
                                              repository_selection}
An installation token is accepted as an API token (Bearer or token) until it expires, for the
repositories of its installation; a JWT is refused (401) anywhere but the App endpoints, and
any other credential is refused (401) on them.
Every API request needs "Authorization: Bearer <token>" (or "token <token>"): anything else
gets 401 "Bad credentials"; a missing User-Agent gets 403 as on GitHub. Responses carry
x-ratelimit-* headers and Date.

Test controls (no authentication, not logged):
  POST /_control {"action": ...}
    reset                              forget pull requests, faults, flags and the log
    unauthorized {"value": bool}       every API request answers 401 (a revoked token)
    forbidden {"repo": "o/r"}          403 "Resource not accessible by integration"
    min_mutation_gap {"seconds": s}    a POST/PATCH sooner than s after the previous one
                                       gets a 403 secondary rate limit (and is counted)
    create_pr {"repo","head","base","title","body","state","merged"}  a PR made by a human
    set_pr {"repo","number","state","merged","body","title"}
    fault {"kind", "count", "method"?, "path"? (substring), ...}: the next `count` matching
        API requests misbehave; kinds:
          status {"status", "message"?}        that status, GitHub's error document
          rate_limit {"reset_in"}              403, x-ratelimit-remaining: 0, reset ahead
          retry_after {"seconds", "status"}    status (429 or 403) with retry-after
          secondary {}                         403 secondary rate limit, no headers
          body {"status", "body", "content_type"?, "headers"?}  a raw body
          redirect {"status", "location"}      "{base}" and "{path}" are substituted
          delay {"seconds"}                    sleep, then answer normally
          create_then_fail {"status"}          do the request, then answer status
          echo_auth {"form"?, "pad"?, "status"?}  a 403 (or status) whose message quotes the
                                               Authorization header after `pad` dots, in a
                                               form: raw (default), token (the credential
                                               alone), percent (percent-encoded), base64,
                                               basic (base64 of x-access-token:credential),
                                               all (every form); with "html": true, a
                                               text/html page whose first line quotes it
    app {"app_id", "public_key" (PEM)}  the GitHub App whose JWTs are accepted
    app_install {"repo": "o/r", "installation_id": n}   the app is installed there
    app_uninstall {"repo": "o/r"}
    app_token_ttl {"seconds": s}       lifetime of the installation tokens minted next (3600)
    app_token {"token": "ghs_..."}     the value of the tokens minted next (a git server
                                       started beforehand can then accept it); null: random
    app_expire_tokens {}               every installation token minted so far expires now
    clock_offset {"seconds": s}        the fake's clock (Date, JWT checks, expires_at) runs
                                       s seconds ahead of this machine's
    create_label {"repo", "name"}      a label that exists
    labels_strict {"value": bool}      an unknown label is a 422 (GitHub creates it)
    allow_auto_merge {"repo", "value"} the repository setting "Allow auto-merge"
    set_pr also takes "clean": true (mergeable now: auto-merge is refused) and "author"
  GET /_log   {"requests": [{method, path, host, auth: ok|bad|none, auth_kind:
               app_jwt|installation|token|bad|none, auth_error, t (epoch s), status,
               user_agent, accept, api_version, content_type, body, reset}], "violations": n,
               "mints": n}
  GET /_prs?repo=o/r   all pull requests of a repository, full form

It exits on SIGTERM, when its parent process goes away, or after --lifetime seconds.
"""

import argparse
import base64
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, quote, urlencode, urlsplit

DOCS = "https://docs.github.com/rest/pulls/pulls"
LOCK = threading.RLock()


def echo_forms(auth, form):
    """The Authorization header value as a careless server might quote it back."""
    cred = auth.split(" ", 1)[-1]
    forms = {
        "raw": auth,
        "token": cred,
        "percent": quote(auth, safe=""),
        "base64": base64.b64encode(auth.encode()).decode(),
        "basic": base64.b64encode(("x-access-token:" + cred).encode()).decode(),
    }
    if form == "all":
        return " ".join(forms.values())
    return forms[form]


def iso(t):
    return datetime.fromtimestamp(int(t), timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class State:
    def __init__(self, token, app_id=None, app_key=None):
        self.token = token
        self.app_id = app_id
        self.app_key = app_key  # PEM bytes of the app's public key
        self.reset()

    def now(self):
        return time.time() + self.clock_offset

    def reset(self):
        self.repos = {}  # "o/r" -> {"id": n, "prs": [pr], "next": n}
        self.repo_ids = {}
        self.faults = []
        self.log = []
        self.unauthorized = False
        self.forbidden = set()
        self.min_gap = 0.0
        self.last_mutation = None
        self.violations = 0
        self.remaining = 5000
        # GitHub App: the app itself survives a reset (it is an option of the fake)
        self.installations = {}  # "o/r" -> installation id
        self.inst_tokens = {}  # token -> {"inst": id, "expires": epoch s}
        self.token_ttl = 3600
        self.token_value = None
        self.mints = 0
        self.clock_offset = 0.0
        self.labels = {}  # "o/r" -> set of names
        self.labels_strict = False
        self.auto_merge = set()  # repositories that allow auto-merge

    def repo(self, full):
        if full not in self.repos:
            rid = 1000 + len(self.repos)
            self.repos[full] = {"id": rid, "prs": [], "next": 1}
            self.repo_ids[rid] = full
        return self.repos[full]

    def new_pr(self, full, head, base, title, body, draft=False):
        owner = full.split("/")[0]
        r = self.repo(full)
        if ":" in head:
            head_owner, ref = head.split(":", 1)
        else:
            head_owner, ref = owner, head
        now = time.time()
        pr = {
            "number": r["next"], "state": "open", "title": title, "body": body,
            "draft": bool(draft), "merged": False, "created": now, "updated": now,
            "closed": None, "merged_at": None, "head_owner": head_owner, "ref": ref,
            "base": base, "repo": full,
            "sha": "%040x" % (0xC0FFEE00 + r["next"]),
            "author": head_owner, "labels": [], "assignees": [], "reviewers": [],
            "auto_merge": None, "clean": False,
        }
        r["next"] += 1
        r["prs"].append(pr)
        return pr


STATE = None

JWT_UNDECODABLE = "A JSON web token could not be decoded"


def b64url_decode(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def rs256_ok(public_pem, signing_input, sig):
    """The RS256 signature check: python3-cryptography, else the openssl command line."""
    try:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import padding
    except ImportError:
        with tempfile.TemporaryDirectory() as d:
            paths = [os.path.join(d, n) for n in ("key.pem", "sig", "in")]
            for path, data in zip(paths, (public_pem, sig, signing_input)):
                with open(path, "wb") as f:
                    f.write(data)
            r = subprocess.run(["openssl", "dgst", "-sha256", "-verify", paths[0],
                                "-signature", paths[1], paths[2]], capture_output=True)
            return r.returncode == 0
    key = serialization.load_pem_public_key(public_pem)
    try:
        key.verify(sig, signing_input, padding.PKCS1v15(), hashes.SHA256())
        return True
    except InvalidSignature:
        return False


def jwt_problem(jwt):
    """None for a JWT GitHub would accept from the app, else GitHub's 401 message."""
    if not STATE.app_key:
        return JWT_UNDECODABLE
    try:
        h64, c64, s64 = jwt.split(".")
        header = json.loads(b64url_decode(h64))
        claims = json.loads(b64url_decode(c64))
        sig = b64url_decode(s64)
    except (ValueError, TypeError):
        return JWT_UNDECODABLE
    if not isinstance(header, dict) or header.get("alg") != "RS256" or not isinstance(claims, dict):
        return JWT_UNDECODABLE
    # the app is found by iss, then the signature checked with its key: a wrong app id and
    # a wrong key look the same from outside
    if str(claims.get("iss")) != str(STATE.app_id):
        return JWT_UNDECODABLE
    if not rs256_ok(STATE.app_key, (h64 + "." + c64).encode(), sig):
        return JWT_UNDECODABLE
    iat, exp = claims.get("iat"), claims.get("exp")
    if not isinstance(iat, int) or isinstance(iat, bool):
        return "'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued"
    if not isinstance(exp, int) or isinstance(exp, bool):
        return "'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires"
    now = STATE.now()
    if iat > now + 60:
        return "'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued"
    if exp < now:
        return "'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires"
    if exp - iat > 600:
        return "'Expiration time' claim ('exp') is too far in the future"
    return None


def classify(auth):
    """(kind, problem, installation id): which credential a request carries."""
    if not auth:
        return "none", "Bad credentials", None
    m = re.fullmatch(r"(Bearer|token) (\S+)", auth)
    if not m:
        return "bad", "Bad credentials", None
    scheme, cred = m.groups()
    if cred == STATE.token:
        return "token", None, None
    with LOCK:
        it = STATE.inst_tokens.get(cred)
    if it:
        if it["expires"] <= STATE.now():
            return "installation", "Bad credentials", it["inst"]
        return "installation", None, it["inst"]
    if cred.count(".") == 2:
        if scheme != "Bearer":
            return "app_jwt", JWT_UNDECODABLE, None
        return "app_jwt", jwt_problem(cred), None
    return "bad", "Bad credentials", None



def user(login):
    return {"login": login, "id": abs(hash(login)) % 100000, "type": "User",
            "url": "https://api.github.com/users/" + login}


def pr_json(base_url, pr, full=False):
    owner, name = pr["repo"].split("/")
    rid = STATE.repo(pr["repo"])["id"]
    repo_obj = {"id": rid, "name": name, "full_name": pr["repo"], "private": False,
                "owner": user(owner), "url": "%s/repos/%s" % (base_url, pr["repo"])}
    j = {
        "url": "%s/repos/%s/pulls/%d" % (base_url, pr["repo"], pr["number"]),
        "id": rid * 100000 + pr["number"],
        "node_id": "PR_fake%d_%d" % (rid, pr["number"]),
        "html_url": "https://github.com/%s/pull/%d" % (pr["repo"], pr["number"]),
        "number": pr["number"],
        "state": pr["state"],
        "locked": False,
        "title": pr["title"],
        "user": user(pr["head_owner"]),
        "body": pr["body"] if pr["body"] else None,
        "created_at": iso(pr["created"]),
        "updated_at": iso(pr["updated"]),
        "closed_at": iso(pr["closed"]) if pr["closed"] else None,
        "merged_at": iso(pr["merged_at"]) if pr["merged_at"] else None,
        "merge_commit_sha": None,
        "draft": pr["draft"],
        "head": {"label": "%s:%s" % (pr["head_owner"], pr["ref"]), "ref": pr["ref"],
                 "sha": pr["sha"], "user": user(pr["head_owner"]), "repo": repo_obj},
        "base": {"label": "%s:%s" % (owner, pr["base"]), "ref": pr["base"],
                 "sha": "%040x" % 0xBA5E, "user": user(owner), "repo": repo_obj},
        "author_association": "NONE",
        "auto_merge": pr.get("auto_merge"),
        "labels": [{"id": abs(hash(n)) % 100000, "name": n, "color": "ededed", "default": False}
                   for n in pr.get("labels", [])],
        "assignees": [user(a) for a in pr.get("assignees", [])],
        "requested_reviewers": [user(a) for a in pr.get("reviewers", [])],
    }
    j["user"] = user(pr.get("author", pr["head_owner"]))
    if full:
        j.update({"merged": pr["merged"], "mergeable": None, "mergeable_state": "unknown",
                  "merged_by": None, "comments": 0, "review_comments": 0,
                  "maintainer_can_modify": False, "commits": 1, "additions": 1,
                  "deletions": 1, "changed_files": 1})
    return j


def error_doc(status, message, errors=None, doc=DOCS):
    d = {"message": message, "documentation_url": doc, "status": str(status)}
    if errors is not None:
        d["errors"] = errors
    return d


def invalid_property(name, value, what):
    return error_doc(422, "Invalid request.\n\nFor 'properties/%s', %s is not %s."
                     % (name, json.dumps(value), what))


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-github/1"

    def log_message(self, fmt, *args):  # quiet
        pass

    def date_time_string(self, timestamp=None):
        return super().date_time_string(STATE.now() if timestamp is None else timestamp)

    # ---- plumbing ---------------------------------------------------------------------

    def base_url(self):
        return "http://" + (self.headers.get("Host") or "127.0.0.1")

    def read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def send(self, status, obj=None, raw=None, headers=None, ctype="application/json; charset=utf-8"):
        if raw is None:
            raw = b"" if obj is None else json.dumps(obj).encode()
        elif isinstance(raw, str):
            raw = raw.encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(raw)))
        self.send_header("X-GitHub-Api-Version-Selected", "2022-11-28")
        for k, v in (headers or {}).items():
            self.send_header(k, str(v))
        self.end_headers()
        self.wfile.write(raw)
        if self.entry is not None:
            self.entry["status"] = status

    def rate_headers(self, remaining=None, reset=None):
        with LOCK:
            if remaining is None:
                STATE.remaining = max(STATE.remaining - 1, 1)
                remaining = STATE.remaining
        reset = reset if reset is not None else int(time.time()) + 3600
        return {"x-ratelimit-limit": 5000, "x-ratelimit-remaining": remaining,
                "x-ratelimit-reset": reset, "x-ratelimit-used": 5000 - remaining,
                "x-ratelimit-resource": "core"}

    def do_GET(self):
        self.handle_any("GET")

    def do_POST(self):
        self.handle_any("POST")

    def do_PATCH(self):
        self.handle_any("PATCH")

    def do_PUT(self):
        self.handle_any("PUT")

    def do_DELETE(self):
        self.handle_any("DELETE")

    # ---- dispatch -------------------------------------------------------------------------

    def handle_any(self, method):
        self.entry = None
        body = self.read_body()
        url = urlsplit(self.path)
        if url.path == "/_control" and method == "POST":
            return self.control(body)
        if url.path == "/_log" and method == "GET":
            with LOCK:
                return self.send(200, {"requests": list(STATE.log), "violations": STATE.violations,
                                       "mints": STATE.mints})
        if url.path == "/_prs" and method == "GET":
            full = parse_qs(url.query).get("repo", [""])[0]
            with LOCK:
                prs = [pr_json(self.base_url(), p, True) for p in STATE.repo(full)["prs"]]
            return self.send(200, prs)

        auth = self.headers.get("Authorization")
        kind, problem, inst = classify(auth)
        auth_state = "none" if not auth else ("ok" if problem is None else "bad")
        app_route = (url.path == "/app" or re.fullmatch(r"/repos/[^/]+/[^/]+/installation", url.path)
                     or re.fullmatch(r"/app/installations/\d+/access_tokens", url.path))
        if problem is None and (kind == "app_jwt") != bool(app_route):
            # a JWT only for the App endpoints, and they only with a JWT
            problem = "Bad credentials" if kind == "app_jwt" else JWT_UNDECODABLE
            auth_state = "bad"
        self.entry = {
            "method": method, "path": self.path, "host": self.headers.get("Host"),
            "auth": auth_state, "auth_kind": kind, "auth_error": problem,
            "t": time.time(), "status": 0,
            "user_agent": self.headers.get("User-Agent"), "accept": self.headers.get("Accept"),
            "api_version": self.headers.get("X-GitHub-Api-Version"),
            "content_type": self.headers.get("Content-Type"),
            "body": body.decode("utf-8", "replace"), "reset": None,
        }
        with LOCK:
            STATE.log.append(self.entry)

        if STATE.unauthorized or auth_state != "ok":
            return self.send(401, error_doc(401, problem or "Bad credentials", doc="https://docs.github.com/rest"))
        if not self.headers.get("User-Agent"):
            return self.send(403, error_doc(403, "Request forbidden by administrative rules. "
                                            "Please make sure your request has a User-Agent header"))
        if method in ("POST", "PATCH", "PUT", "DELETE"):
            with LOCK:
                now = time.monotonic()
                too_soon = (STATE.min_gap and STATE.last_mutation is not None
                            and now - STATE.last_mutation < STATE.min_gap)
                STATE.last_mutation = now
                if too_soon:
                    STATE.violations += 1
            if too_soon:
                return self.secondary()

        fault = self.take_fault(method, url.path)
        after = None
        if fault:
            kind = fault["kind"]
            if kind == "status":
                st = int(fault.get("status", 500))
                return self.send(st, error_doc(st, fault.get("message", "Server Error")))
            if kind == "rate_limit":
                reset = int(time.time()) + int(fault.get("reset_in", 2))
                self.entry["reset"] = reset
                return self.send(403, error_doc(403, "API rate limit exceeded for user ID 1. If you "
                                                "reach out to GitHub Support for help, please include "
                                                "the request ID 0000:0000.",
                                                doc="https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"),
                                 headers=self.rate_headers(0, reset))
            if kind == "retry_after":
                st = int(fault.get("status", 429))
                return self.send(st, error_doc(st, "You have exceeded a secondary rate limit. Please "
                                               "wait a few minutes before you try again."),
                                 headers={"retry-after": int(fault.get("seconds", 1))})
            if kind == "secondary":
                return self.secondary()
            if kind == "body":
                return self.send(int(fault.get("status", 200)), raw=fault.get("body", ""),
                                 headers=dict(self.rate_headers(), **fault.get("headers", {})),
                                 ctype=fault.get("content_type", "application/json; charset=utf-8"))
            if kind == "redirect":
                loc = fault["location"].replace("{base}", self.base_url()).replace("{path}", self.path)
                return self.send(int(fault.get("status", 301)),
                                 error_doc(301, "Moved Permanently", doc="https://docs.github.com/rest"),
                                 headers={"Location": loc})
            if kind == "delay":
                time.sleep(float(fault.get("seconds", 1)))
            if kind == "echo_auth":
                text = "." * int(fault.get("pad", 0)) + "Token %s is not allowed here" % echo_forms(
                    auth or "", fault.get("form", "raw"))
                st = int(fault.get("status", 403))
                if fault.get("html"):
                    return self.send(st, raw=("<html>%s</html>\n" % text).encode(), ctype="text/html")
                return self.send(st, error_doc(st, text))
            if kind == "create_then_fail":
                after = int(fault.get("status", 502))

        if app_route:
            return self.app_endpoint(method, url.path)
        if url.path == "/graphql" and method == "POST":
            return self.graphql(body)
        repo_full = None
        mm = re.fullmatch(r"/repos/([^/]+)/([^/]+)(/.*)?", url.path)
        if mm:
            repo_full = "%s/%s" % (mm.group(1), mm.group(2))
            rest = mm.group(3) or ""
        else:
            mm = re.fullmatch(r"/repositories/(\d+)(/.*)?", url.path)
            if mm:
                with LOCK:
                    repo_full = STATE.repo_ids.get(int(mm.group(1)))
                rest = mm.group(2) or ""
        if not repo_full:
            return self.send(404, error_doc(404, "Not Found", doc="https://docs.github.com/rest"))
        if repo_full in STATE.forbidden:
            return self.send(403, error_doc(403, "Resource not accessible by integration"),
                             headers=self.rate_headers())
        with LOCK:
            installed = STATE.installations.get(repo_full)
        if kind == "installation" and installed is not None and installed != inst:
            # another installation's token does not see this repository
            return self.send(404, error_doc(404, "Not Found", doc="https://docs.github.com/rest"))

        if rest == "/pulls" and method == "GET":
            return self.list_pulls(repo_full, parse_qs(url.query))
        if rest == "/pulls" and method == "POST":
            return self.create_pull(repo_full, body, after)
        m2 = re.fullmatch(r"/pulls/(\d+)", rest)
        if m2 and method == "GET":
            return self.get_pull(repo_full, int(m2.group(1)))
        if m2 and method == "PATCH":
            return self.update_pull(repo_full, int(m2.group(1)), body, after)
        m3 = re.fullmatch(r"/issues/(\d+)/(labels|assignees)", rest)
        if m3 and method == "POST":
            return self.issue_add(repo_full, int(m3.group(1)), m3.group(2), body)
        m4 = re.fullmatch(r"/pulls/(\d+)/requested_reviewers", rest)
        if m4 and method == "POST":
            return self.request_reviewers(repo_full, int(m4.group(1)), body)
        return self.send(404, error_doc(404, "Not Found", doc="https://docs.github.com/rest"))

    def secondary(self):
        return self.send(403, error_doc(403, "You have exceeded a secondary rate limit. Please wait "
                                        "a few minutes before you try again. If you reach out to "
                                        "GitHub Support for help, please include the request ID "
                                        "0000:0000.",
                                        doc="https://docs.github.com/free-pro-team@latest/rest/"
                                        "overview/rate-limits-for-the-rest-api#about-secondary-rate-limits"))

    def take_fault(self, method, path):
        with LOCK:
            for f in STATE.faults:
                if f.get("method") and f["method"] != method:
                    continue
                if f.get("path") and f["path"] not in path:
                    continue
                f["count"] -= 1
                if f["count"] <= 0:
                    STATE.faults.remove(f)
                return dict(f)
        return None

    # ---- the pull-request endpoints -------------------------------------------------------

    def list_pulls(self, full, q):
        state = q.get("state", ["open"])[0]
        if state not in ("open", "closed", "all"):
            return self.send(422, error_doc(422, "Validation Failed",
                                            [{"resource": "PullRequest", "field": "state", "code": "invalid"}]))
        head = q.get("head", [None])[0]
        base = q.get("base", [None])[0]
        try:
            per_page = min(max(int(q.get("per_page", ["30"])[0]), 1), 100)
            page = max(int(q.get("page", ["1"])[0]), 1)
        except ValueError:
            return self.send(400, error_doc(400, "Invalid page parameter"))
        direction = q.get("direction", ["desc"])[0]
        with LOCK:
            prs = list(STATE.repo(full)["prs"])
            rid = STATE.repo(full)["id"]
        if state != "all":
            prs = [p for p in prs if p["state"] == state]
        if head and ":" in head:
            ho, ref = head.split(":", 1)
            prs = [p for p in prs if p["head_owner"] == ho and p["ref"] == ref]
        if base:
            prs = [p for p in prs if p["base"] == base]
        prs.sort(key=lambda p: p["number"], reverse=(direction != "asc"))
        pages = max((len(prs) + per_page - 1) // per_page, 1)
        chunk = prs[(page - 1) * per_page: page * per_page]
        with LOCK:
            items = [pr_json(self.base_url(), p) for p in chunk]
        headers = self.rate_headers()
        links = []
        params = {k: v[0] for k, v in q.items() if k != "page"}

        def link(n, rel):
            qs = urlencode(dict(params, page=n))
            return '<%s/repositories/%d/pulls?%s>; rel="%s"' % (self.base_url(), rid, qs, rel)
        if page > 1:
            links += [link(page - 1, "prev"), link(1, "first")]
        if page < pages:
            links += [link(page + 1, "next"), link(pages, "last")]
        if links:
            headers["Link"] = ", ".join(links)
        return self.send(200, items, headers=headers)

    def parse_json_body(self, body):
        try:
            j = json.loads(body or b"null")
        except ValueError:
            self.send(400, error_doc(400, "Problems parsing JSON"))
            return None
        if not isinstance(j, dict):
            self.send(400, error_doc(400, "Problems parsing JSON"))
            return None
        return j

    def create_pull(self, full, body, after):
        j = self.parse_json_body(body)
        if j is None:
            return
        for k in ("head", "base"):
            if not isinstance(j.get(k), str) or not j[k]:
                return self.send(422, error_doc(422, 'Invalid request.\n\n"%s" wasn\'t supplied.' % k))
        if not isinstance(j.get("title"), str) or not j["title"]:
            return self.send(422, error_doc(422, "Validation Failed",
                                            [{"resource": "PullRequest", "field": "title", "code": "missing_field"}]))
        if "body" in j and j["body"] is not None and not isinstance(j["body"], str):
            return self.send(422, invalid_property("body", j["body"], "a string"))
        if "draft" in j and not isinstance(j["draft"], bool):
            return self.send(422, invalid_property("draft", j["draft"], "a boolean"))
        owner = full.split("/")[0]
        head = j["head"] if ":" in j["head"] else "%s:%s" % (owner, j["head"])
        with LOCK:
            for p in STATE.repo(full)["prs"]:
                if p["state"] == "open" and "%s:%s" % (p["head_owner"], p["ref"]) == head \
                        and p["base"] == j["base"]:
                    return self.send(422, error_doc(422, "Validation Failed", [{
                        "resource": "PullRequest", "code": "custom",
                        "message": "A pull request already exists for %s." % head}]),
                        headers=self.rate_headers())
            pr = STATE.new_pr(full, j["head"], j["base"], j["title"], j.get("body") or "",
                              j.get("draft", False))
            out = pr_json(self.base_url(), pr, True)
        if after:
            return self.send(after, error_doc(after, "Server Error"))
        return self.send(201, out, headers=dict(self.rate_headers(), Location=out["url"]))

    def find(self, full, number):
        for p in STATE.repo(full)["prs"]:
            if p["number"] == number:
                return p
        return None

    def get_pull(self, full, number):
        with LOCK:
            p = self.find(full, number)
            out = pr_json(self.base_url(), p, True) if p else None
        if not out:
            return self.send(404, error_doc(404, "Not Found", doc=DOCS + "#get-a-pull-request"))
        return self.send(200, out, headers=self.rate_headers())

    def update_pull(self, full, number, body, after):
        j = self.parse_json_body(body)
        if j is None:
            return
        with LOCK:
            p = self.find(full, number)
            if not p:
                return self.send(404, error_doc(404, "Not Found", doc=DOCS + "#update-a-pull-request"))
            for k in ("title", "body", "base"):
                if k in j and j[k] is not None and not isinstance(j[k], str):
                    return self.send(422, invalid_property(k, j[k], "a string"))
            if "title" in j and j["title"] is not None:
                p["title"] = j["title"]
            if "body" in j:
                p["body"] = j["body"] or ""
            if "base" in j and j["base"]:
                p["base"] = j["base"]
            if j.get("state") in ("open", "closed"):
                if p["merged"] and j["state"] == "open":
                    return self.send(422, error_doc(422, "Validation Failed", [{
                        "resource": "PullRequest", "code": "custom",
                        "message": "state cannot be changed. The pull request has been merged."}]))
                p["state"] = j["state"]
                p["closed"] = time.time() if j["state"] == "closed" else None
            p["updated"] = time.time()
            out = pr_json(self.base_url(), p, True)
        if after:
            return self.send(after, error_doc(after, "Server Error"))
        return self.send(200, out, headers=self.rate_headers())


    # ---- the GitHub App endpoints -------------------------------------------------------------

    def installation_json(self, iid, full=None):
        owner = full.split("/")[0] if full else "acme"
        return {"id": iid, "account": user(owner), "app_id": int(STATE.app_id or 0),
                "app_slug": "cpgo-test", "target_id": abs(hash(owner)) % 100000,
                "target_type": "Organization", "repository_selection": "selected",
                "access_tokens_url": "%s/app/installations/%d/access_tokens" % (self.base_url(), iid),
                "repositories_url": self.base_url() + "/installation/repositories",
                "permissions": {"contents": "write", "pull_requests": "write", "issues": "write",
                                "metadata": "read"},
                "events": [], "created_at": iso(STATE.now()), "updated_at": iso(STATE.now()),
                "single_file_name": None, "suspended_at": None}

    def app_endpoint(self, method, path):
        doc = "https://docs.github.com/rest/apps/apps"
        if path == "/app" and method == "GET":
            return self.send(200, {"id": int(STATE.app_id or 0), "slug": "cpgo-test",
                                   "name": "cpgo test app", "owner": user("acme")})
        mm = re.fullmatch(r"/repos/([^/]+)/([^/]+)/installation", path)
        if mm and method == "GET":
            full = "%s/%s" % mm.groups()
            with LOCK:
                iid = STATE.installations.get(full)
            if iid is None:
                return self.send(404, error_doc(404, "Not Found",
                                                doc=doc + "#get-a-repository-installation-for-the-authenticated-app"))
            return self.send(200, self.installation_json(iid, full))
        mm = re.fullmatch(r"/app/installations/(\d+)/access_tokens", path)
        if mm and method == "POST":
            iid = int(mm.group(1))
            with LOCK:
                known = iid in STATE.installations.values()
                if known:
                    token = STATE.token_value or "ghs_" + secrets.token_hex(18)
                    exp = STATE.now() + STATE.token_ttl
                    STATE.inst_tokens[token] = {"inst": iid, "expires": exp}
                    STATE.mints += 1
            if not known:
                return self.send(404, error_doc(404, "Not Found",
                                                doc=doc + "#create-an-installation-access-token-for-an-app"))
            return self.send(201, {"token": token, "expires_at": iso(exp),
                                   "permissions": {"contents": "write", "pull_requests": "write",
                                                   "issues": "write", "metadata": "read"},
                                   "repository_selection": "selected"})
        return self.send(404, error_doc(404, "Not Found", doc=doc))

    # ---- pull-request options: labels, assignees, reviewers, auto-merge -----------------------

    def issue_add(self, full, number, what, body):
        try:
            j = json.loads(body or b"null")
        except ValueError:
            return self.send(400, error_doc(400, "Problems parsing JSON"))
        names = j if isinstance(j, list) and what == "labels" else (
            j.get(what) if isinstance(j, dict) else None)
        if not isinstance(names, list) or not all(isinstance(n, str) and n for n in names):
            return self.send(422, invalid_property(what, names, "an array of strings"))
        with LOCK:
            p = self.find(full, number)
            if not p:
                return self.send(404, error_doc(404, "Not Found",
                                                doc="https://docs.github.com/rest/issues/" + what))
            if what == "labels":
                known = STATE.labels.setdefault(full, set())
                missing = [n for n in names if n not in known]
                if missing and STATE.labels_strict:
                    return self.send(422, error_doc(422, "Validation Failed", [{
                        "value": missing[0], "resource": "Label", "field": "name",
                        "code": "invalid"}]))
                known.update(missing)  # GitHub creates a label that does not exist yet
                p["labels"] += [n for n in names if n not in p["labels"]]
                out = pr_json(self.base_url(), p)["labels"]
                return self.send(200, out, headers=self.rate_headers())
            p["assignees"] += [n for n in names if n not in p["assignees"]]
            out = pr_json(self.base_url(), p)
        return self.send(201, out, headers=self.rate_headers())

    def request_reviewers(self, full, number, body):
        j = self.parse_json_body(body)
        if j is None:
            return
        names = j.get("reviewers", [])
        teams = j.get("team_reviewers", [])
        if not isinstance(names, list) or not isinstance(teams, list) or not (names or teams):
            return self.send(422, invalid_property("reviewers", names, "an array of strings"))
        with LOCK:
            p = self.find(full, number)
            if not p:
                return self.send(404, error_doc(404, "Not Found",
                                                doc="https://docs.github.com/rest/pulls/review-requests"))
            if p.get("author") in names:
                return self.send(422, error_doc(422, "Review cannot be requested from pull request author."))
            p["reviewers"] += [n for n in names if n not in p["reviewers"]]
            out = pr_json(self.base_url(), p, True)
        return self.send(201, out, headers=self.rate_headers())

    def graphql(self, body):
        try:
            j = json.loads(body or b"null")
            query = j["query"]
            variables = j.get("variables") or {}
        except (ValueError, KeyError, TypeError, AttributeError):
            return self.send(400, {"message": "Problems parsing JSON",
                                   "documentation_url": "https://docs.github.com/graphql"})
        if "enablePullRequestAutoMerge" not in query:
            return self.send(200, {"errors": [{"message": "this fake only knows enablePullRequestAutoMerge"}]})

        def arg(name):
            m = re.search(r"\b%s\s*:\s*(?:\$(\w+)|\"([^\"]*)\"|(\w+))" % name, query)
            if not m:
                return variables.get(name)
            if m.group(1):
                v = variables.get(m.group(1))
                return v.get(name) if isinstance(v, dict) and name in v else v
            return m.group(2) if m.group(2) is not None else m.group(3)
        node = arg("pullRequestId")
        method = arg("mergeMethod") or "MERGE"
        if isinstance(variables.get("input"), dict):
            node = variables["input"].get("pullRequestId", node)
            method = variables["input"].get("mergeMethod", method)

        def err(typ, msg):
            return self.send(200, {"data": {"enablePullRequestAutoMerge": None}, "errors": [{
                "type": typ, "path": ["enablePullRequestAutoMerge"],
                "locations": [{"line": 1, "column": 1}], "message": msg}]})
        with LOCK:
            found = None
            for full, r in STATE.repos.items():
                for p in r["prs"]:
                    if pr_json(self.base_url(), p)["node_id"] == node:
                        found = p
            if not found:
                return err("NOT_FOUND", "Could not resolve to a node with the global id of '%s'" % node)
            if method not in ("MERGE", "SQUASH", "REBASE"):
                return err("INVALID", "Variable mergeMethod of type PullRequestMergeMethod was "
                           "provided invalid value")
            if found["repo"] not in STATE.auto_merge:
                return err("UNPROCESSABLE", "Auto merge is not allowed for this repository")
            if found["state"] != "open":
                return err("UNPROCESSABLE", "Pull request is not open")
            if found.get("clean"):
                return err("UNPROCESSABLE", "Pull request is in clean status")
            found["auto_merge"] = {"enabled_by": user("cpgo-test[bot]"), "merge_method": method.lower(),
                                   "commit_title": None, "commit_message": None}
            out = pr_json(self.base_url(), found)
        return self.send(200, {"data": {"enablePullRequestAutoMerge": {"pullRequest": {
            "id": out["node_id"], "number": out["number"],
            "autoMergeRequest": {"mergeMethod": method, "enabledAt": iso(STATE.now())}}}}})

    # ---- controls -------------------------------------------------------------------------

    def control(self, body):
        try:
            j = json.loads(body or b"{}")
            action = j["action"]
        except (ValueError, KeyError, TypeError):
            return self.send(400, {"error": "want {\"action\": ...}"})
        with LOCK:
            if action == "reset":
                STATE.reset()
                return self.send(200, {"ok": True})
            if action == "unauthorized":
                STATE.unauthorized = bool(j.get("value", True))
                return self.send(200, {"ok": True})
            if action == "forbidden":
                STATE.forbidden.add(j["repo"])
                return self.send(200, {"ok": True})
            if action == "min_mutation_gap":
                STATE.min_gap = float(j.get("seconds", 1.0))
                return self.send(200, {"ok": True})
            if action == "fault":
                f = dict(j)
                del f["action"]
                f.setdefault("count", 1)
                STATE.faults.append(f)
                return self.send(200, {"ok": True})
            if action == "app":
                STATE.app_id = str(j["app_id"])
                STATE.app_key = j["public_key"].encode()
                return self.send(200, {"ok": True})
            if action == "app_install":
                STATE.installations[j["repo"]] = int(j["installation_id"])
                return self.send(200, {"ok": True})
            if action == "app_uninstall":
                STATE.installations.pop(j["repo"], None)
                return self.send(200, {"ok": True})
            if action == "app_token_ttl":
                STATE.token_ttl = float(j["seconds"])
                return self.send(200, {"ok": True})
            if action == "app_token":
                STATE.token_value = j.get("token")
                return self.send(200, {"ok": True})
            if action == "app_expire_tokens":
                for t in STATE.inst_tokens.values():
                    t["expires"] = min(t["expires"], STATE.now())
                return self.send(200, {"ok": True})
            if action == "clock_offset":
                STATE.clock_offset = float(j["seconds"])
                return self.send(200, {"ok": True})
            if action == "create_label":
                STATE.labels.setdefault(j["repo"], set()).add(j["name"])
                return self.send(200, {"ok": True})
            if action == "labels_strict":
                STATE.labels_strict = bool(j.get("value", True))
                return self.send(200, {"ok": True})
            if action == "allow_auto_merge":
                if j.get("value", True):
                    STATE.auto_merge.add(j["repo"])
                else:
                    STATE.auto_merge.discard(j["repo"])
                return self.send(200, {"ok": True})
            if action == "create_pr":
                pr = STATE.new_pr(j["repo"], j["head"], j.get("base", "main"),
                                  j.get("title", "a human's pull request"), j.get("body", ""))
                self.apply(pr, j)
                return self.send(200, pr_json(self.base_url(), pr, True))
            if action == "set_pr":
                p = self.find(j["repo"], int(j["number"]))
                if not p:
                    return self.send(404, {"error": "no such pull request"})
                self.apply(p, j)
                return self.send(200, pr_json(self.base_url(), p, True))
        return self.send(400, {"error": "unknown action %r" % action})

    @staticmethod
    def apply(p, j):
        now = time.time()
        if "title" in j and j.get("action") == "set_pr":
            p["title"] = j["title"]
        if "body" in j and j.get("action") == "set_pr":
            p["body"] = j["body"]
        if j.get("merged"):
            p["state"], p["merged"], p["merged_at"], p["closed"] = "closed", True, now, now
        elif j.get("state") == "closed":
            p["state"], p["closed"] = "closed", now
        elif j.get("state") == "open":
            p["state"], p["closed"] = "open", None
        if "clean" in j:
            p["clean"] = bool(j["clean"])
        if "author" in j:
            p["author"] = j["author"]
        p["updated"] = now


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # a client that gave up (a timeout test) is not an error of the fake
        if isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            return
        super().handle_error(request, client_address)


def main():
    global STATE
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--token", default=os.environ.get("FAKE_GITHUB_TOKEN"))
    ap.add_argument("--lifetime", type=float, default=300.0)
    ap.add_argument("--app-id", help="the GitHub App whose JWTs are accepted")
    ap.add_argument("--app-public-key", help="its public key (PEM file)")
    a = ap.parse_args()
    if not a.token:
        sys.exit("fake_github.py: no token ($FAKE_GITHUB_TOKEN or --token)")
    key = None
    if a.app_public_key:
        with open(a.app_public_key, "rb") as f:
            key = f.read()
    STATE = State(a.token, a.app_id, key)
    srv = Server(("127.0.0.1", 0), Handler)
    tmp = a.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % srv.server_address[1])
    os.rename(tmp, a.port_file)

    parent = os.getppid()
    deadline = time.monotonic() + a.lifetime

    def watchdog():
        while True:
            time.sleep(0.2)
            if os.getppid() != parent or time.monotonic() > deadline:
                os._exit(0)
    threading.Thread(target=watchdog, daemon=True).start()
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    srv.serve_forever()


if __name__ == "__main__":
    main()
