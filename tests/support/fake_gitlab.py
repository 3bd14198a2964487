#!/usr/bin/env python3
"""fake_gitlab.py - a stateful fake of the GitLab REST API v4 merge-request endpoints, for tests.

Python 3 standard library only. Listens on 127.0.0.1 on an ephemeral port and writes the
port to --port-file (atomically, once it is listening). The API lives under /api/v4, as on
https://HOST/api/v4. The token it accepts comes from $FAKE_GITLAB_TOKEN (or --token).

Shapes follow GitLab's REST documentation (docs.gitlab.com/api/merge_requests/, .../rest/,
.../rest/authentication/, .../rest/troubleshooting/) as summarised in
shared/reference/forges.md "GitLab REST v4", and the official Go client
gitlab.com/gitlab-org/api/client-go v1.46.0 as the machine-readable source of paths,
methods and field names (each endpoint below cites the client function it follows).

Endpoints (":id" is a numeric project id or the URL-encoded path with subgroups,
"group%2Fsub%2Fproject"; a literal "/" inside the id gets 404, as behind a proxy that
decodes %2F; "." may come as "%2E", as client-go's PathEscape sends it):
  GET  /projects/:id                           default_branch, web_url, path_with_namespace
  GET  /projects/:id/merge_requests            source_branch, target_branch,
                                               state=opened|closed|locked|merged|all
                                               (default all), order_by, sort, page,
                                               per_page (default 20, max 100); Link, x-page,
                                               x-per-page, x-next-page, x-prev-page,
                                               x-total, x-total-pages
  POST /projects/:id/merge_requests            source_branch, target_branch, title
                                               (required), description, labels (CSV or
                                               list), assignee_ids, reviewer_ids,
                                               remove_source_branch, squash: 201;
                                               409 {"message":["Another open merge request
                                               already exists for this source branch: !N"]},
                                               422 same branch, 400 missing/invalid field
  GET  /projects/:id/merge_requests/:iid       the full MR (detailed_merge_status, sha...)
  PUT  /projects/:id/merge_requests/:iid       title, description, target_branch, labels
                                               (replace), add_labels, remove_labels,
                                               state_event=close|reopen, assignee_ids,
                                               reviewer_ids, remove_source_branch, squash
  PUT  /projects/:id/merge_requests/:iid/merge auto_merge / merge_when_pipeline_succeeds,
                                               sha (409 on mismatch), 405 when it cannot be
                                               merged now, 401 when the user may not merge,
                                               422 "Branch cannot be merged" (conflicts)
  GET  /projects/:id/labels                    the project's labels, search= (a substring);
                                               paginated
  GET  /users?username=X                       [] or [{id, username, name, state, ...}]
  GET  /user                                   the token's owner (the bot)
Parameters come as JSON (what client-go sends), as a form, or in the query string, as
Grape accepts them all. Labels named on create/update that do not exist are created as
project labels, as GitLab does (gitlab-org/gitlab#454576; docs "If a label does not
already exist, this creates a new project label"); GET /_labels shows which were.

Auth (docs .../rest/authentication/): "PRIVATE-TOKEN: <t>" or "Authorization: Bearer <t>";
anything else, or nothing, gets 401 {"message":"401 Unauthorized"}.

Rate limits (docs user/gitlab_com/rate_limits, .../user_and_ip_rate_limits): a window of 60 s
with a quota (default 2000, control "rate_limit"); responses carry RateLimit-Name,
-Limit, -Observed, -Remaining, -Reset (Unix time), -ResetTime (HTTP date) except GET
/projects/:id and /users, for which GitLab documents none; past the quota: 429, a
plain-text body "Retry later\\n" and Retry-After (client-go gitlab.go retryHTTPCheck /
rateLimitBackoff read Retry-After and RateLimit-Reset).

Error bodies in GitLab's four shapes (client-go gitlab.go parseError; docs
.../rest/troubleshooting/): {"message":"..."}, {"message":{"field":["..."]}},
{"message":["..."]}, {"error":"...","error_description":"..."}; Grape's missing
parameter: {"error":"title is missing"}.

Test controls (no authentication, not logged):
  POST /_control {"action": ...}
    reset                                  forget everything but the --project/--user setup
    project {"path", "default_branch"?, "id"?, "labels"?}   a project (created on demand
                                           only this way or with --project)
    user {"username"}                      a user that /users?username= finds
    label {"project", "name"}              a project label made by a person
    unauthorized {"value": bool}           every API request answers 401 (a revoked token)
    forbidden {"project", "shape"?, "value"?}  403 {"message":"403 Forbidden"}, or with
                                           shape "scope" the OAuth form
                                           {"error":"insufficient_scope",...}; value
                                           false lifts it
    rate_limit {"limit", "period"?}        the quota per window (requests, default 60 s)
    merge_race {"count"}                   each new MR answers 405 to its first `count`
                                           merge requests (detailed_merge_status
                                           "preparing"), as just after creation
    cannot_merge {"value": bool}           merge requests answer 401 (not allowed to merge)
    rename {"from", "to"}                  the project moves; its old path answers 301 with
                                           Location /api/v4/projects/<new>... (GitLab
                                           redirects renamed project paths for git; the
                                           API redirect is emulated so a client's redirect
                                           handling can be tested)
    create_pr {"project" (or "repo"), "source_branch" (or "head"), "target_branch" (or
               "base"), "title", "description" (or "body"), "state", "merged", "author",
               "labels", "source_project"} an MR made by a person; with source_project
                                           (a fork's path) it comes from that project, as
                                           GitLab lists a fork's MR in its target project
    set_pr {"project" (or "repo"), "iid" (or "number"), "state" (opened|closed|merged|
            locked), "merged", "title", "description" (or "body"), "labels", "pipeline"
            (none|running|success|failed), "has_conflicts", "sha"}
    fault {"kind", "count", "method"?, "path"? (substring), ...}: the next `count` matching
        API requests misbehave; kinds:
          status {"status", "message"?, "shape"?}  that status with an error body of shape
                                               message (default), fields, list or error
          rate_limit {"reset_in"}              429 "Retry later", RateLimit-Remaining: 0,
                                               Retry-After and RateLimit-Reset ahead
          retry_after {"seconds", "status"?}   status (429) with Retry-After, plain text
          body {"status", "body", "content_type"?, "headers"?}  a raw body
          redirect {"status", "location"}      "{base}" and "{path}" are substituted
          delay {"seconds"}                    sleep, then answer normally
          create_then_fail {"status"}          do the request, then answer status
          echo_auth {"form"?, "pad"?, "status"?, "html"?}  a 403 (or status) whose message
                                               quotes the credential after `pad` dots, in
                                               a form: raw (the header line), token,
                                               percent, base64, basic (base64 of
                                               oauth2:token), all
  GET /_log   {"requests": [{method, path, auth: ok|bad|none, auth_form: private-token|
               bearer|other|none, t (epoch s), status, user_agent, content_type, body}]}
  GET /_prs?repo=PATH (or project=PATH)   every MR of a project, full form, plus
               "assignee_usernames", "reviewer_usernames", "merge_attempts"
  GET /_labels?project=PATH  [{name, auto_created (by an MR create/update), ...}]

It exits on SIGTERM, when its parent process goes away, or after --lifetime seconds.
"""

import argparse
import base64
import json
import os
import re
import signal
import sys
import threading
import time
from datetime import datetime, timezone
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, quote, unquote, urlencode, urlsplit

API = "/api/v4"
LOCK = threading.RLock()
MAX_DESCRIPTION = 1048576  # docs.gitlab.com/api/merge_requests/ "description"
MAX_TITLE = 255
# GitLab's draft title prefixes (MergeRequest::DRAFT_REGEX; forges.md: "Draft: ", "WIP: ")
DRAFT_RE = re.compile(r"^\s*(\[draft\]|\(draft\)|draft:|draft\s-\s|\[wip\]|\(wip\)|wip:)", re.I)
BOT = "cpgo-bot"


def echo_forms(header_line, cred, form):
    """The credential as a careless server might quote it back."""
    forms = {
        "raw": header_line,
        "token": cred,
        "percent": quote(header_line, safe=""),
        "base64": base64.b64encode(header_line.encode()).decode(),
        "basic": base64.b64encode(("oauth2:" + cred).encode()).decode(),
    }
    if form == "all":
        return " ".join(forms.values())
    return forms[form]


def iso(t):
    if t is None:
        return None
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def enc(path):
    """A project path as client-go's PathEscape sends it (gitlab.go PathEscape)."""
    return quote(path, safe="").replace(".", "%2E")


class State:
    def __init__(self, token, projects, users):
        self.token = token
        self.setup_projects = projects
        self.setup_users = users
        self.reset()

    def reset(self):
        self.projects = {}  # path -> project
        self.by_id = {}
        self.renamed = {}  # old path -> new path
        self.users = {}  # username -> {"id", "username"}
        self.faults = []
        self.log = []
        self.unauthorized = False
        self.forbidden = {}
        self.limit = 2000
        self.period = 60.0
        self.window_start = time.time()
        self.observed = 0
        self.merge_race = 0
        self.cannot_merge = False
        self.next_project_id = 100
        self.next_mr_id = 5000
        self.next_label_id = 1
        self.user(BOT)
        for u in self.setup_users:
            self.user(u)
        for p in self.setup_projects:
            self.project(p)

    def user(self, name):
        if name not in self.users:
            self.users[name] = {"id": 10 + len(self.users), "username": name}
        return self.users[name]

    def project(self, path, default_branch="main", pid=None):
        if path in self.projects:
            return self.projects[path]
        if pid is None:
            pid = self.next_project_id
            self.next_project_id += 1
        p = {"id": int(pid), "path": path, "default_branch": default_branch, "mrs": [],
             "labels": {}, "next_iid": 1}
        self.projects[path] = p
        self.by_id[p["id"]] = p
        self.renamed.pop(path, None)
        return p

    def label(self, proj, name, auto):
        if name not in proj["labels"]:
            proj["labels"][name] = {"id": self.next_label_id, "name": name, "color": "#6699cc",
                                    "description": None, "auto_created": auto,
                                    "created": time.time()}
            self.next_label_id += 1
        return proj["labels"][name]

    def new_mr(self, proj, source, target, title, description, author):
        now = time.time()
        mr = {
            "id": self.next_mr_id, "iid": proj["next_iid"], "project": proj,
            "source_branch": source, "target_branch": target, "title": title,
            "description": description, "state": "opened", "created": now, "updated": now,
            "closed": None, "merged_at": None, "author": author, "labels": [],
            "assignees": [], "reviewers": [], "remove_source_branch": False, "squash": False,
            "sha": "%040x" % (0xC0FFEE00 + self.next_mr_id), "pipeline": "running",
            "has_conflicts": False, "auto_merge": False, "race": self.merge_race,
            "merge_attempts": 0,
        }
        self.next_mr_id += 1
        proj["next_iid"] += 1
        proj["mrs"].append(mr)
        return mr


STATE = None


def user_json(base, u):
    return {"id": u["id"], "username": u["username"], "name": u["username"].title(),
            "state": "active", "locked": False,
            "avatar_url": None, "web_url": "%s/%s" % (base, u["username"])}


def project_json(base, p):
    return {
        "id": p["id"], "name": p["path"].rsplit("/", 1)[-1],
        "path": p["path"].rsplit("/", 1)[-1], "path_with_namespace": p["path"],
        "name_with_namespace": " / ".join(p["path"].split("/")),
        "default_branch": p["default_branch"], "visibility": "private",
        "web_url": "%s/%s" % (base, p["path"]),
        "http_url_to_repo": "%s/%s.git" % (base, p["path"]),
        "namespace": {"full_path": p["path"].rsplit("/", 1)[0] if "/" in p["path"] else ""},
        "merge_method": "merge", "squash_option": "default_on",
        "merge_requests_access_level": "enabled", "merge_requests_enabled": True,
        "archived": False, "empty_repo": p["default_branch"] is None,
    }


def detailed_status(mr):
    """detailed_merge_status as GitLab 15.6+ reports it (docs merge_requests "Merge status")."""
    if mr["state"] != "opened":
        return "not_open"
    if mr["race"] > 0:
        return "preparing"
    if DRAFT_RE.match(mr["title"]):
        return "draft_status"
    if mr["has_conflicts"]:
        return "conflict"
    if mr["pipeline"] == "running":
        return "ci_still_running"
    if mr["pipeline"] == "failed":
        return "ci_must_pass"
    return "mergeable"


def mr_json(base, mr, full=False):
    p = mr["project"]
    users = STATE.users

    def u(name):
        return user_json(base, users.get(name) or STATE.user(name))
    j = {
        "id": mr["id"], "iid": mr["iid"], "project_id": p["id"],
        "title": mr["title"], "description": mr["description"], "state": mr["state"],
        "created_at": iso(mr["created"]), "updated_at": iso(mr["updated"]),
        "merged_at": iso(mr["merged_at"]), "closed_at": iso(mr["closed"]),
        "merge_user": u(BOT) if mr["state"] == "merged" else None,
        "closed_by": None,
        "target_branch": mr["target_branch"], "source_branch": mr["source_branch"],
        "user_notes_count": 0, "upvotes": 0, "downvotes": 0,
        "author": u(mr["author"]),
        "assignees": [u(n) for n in mr["assignees"]],
        "assignee": u(mr["assignees"][0]) if mr["assignees"] else None,
        "reviewers": [u(n) for n in mr["reviewers"]],
        "source_project_id": mr.get("source_project", p)["id"], "target_project_id": p["id"],
        "labels": list(mr["labels"]),
        "draft": bool(DRAFT_RE.match(mr["title"])),
        "work_in_progress": bool(DRAFT_RE.match(mr["title"])),
        "milestone": None,
        "merge_when_pipeline_succeeds": mr["auto_merge"],
        "merge_status": "can_be_merged" if not mr["has_conflicts"] else "cannot_be_merged",
        "detailed_merge_status": detailed_status(mr),
        "sha": mr["sha"],
        "merge_commit_sha": ("%040x" % (0xAE000000 + mr["id"])) if mr["state"] == "merged" else None,
        "squash_commit_sha": None, "discussion_locked": None,
        "should_remove_source_branch": None,
        "force_remove_source_branch": mr["remove_source_branch"],
        "squash": mr["squash"], "squash_on_merge": mr["squash"],
        "has_conflicts": mr["has_conflicts"], "blocking_discussions_resolved": True,
        "web_url": "%s/%s/-/merge_requests/%d" % (base, p["path"], mr["iid"]),
        "references": {"short": "!%d" % mr["iid"], "relative": "!%d" % mr["iid"],
                       "full": "%s!%d" % (p["path"], mr["iid"])},
    }
    if full:
        j.update({
            "subscribed": False, "changes_count": "1", "merge_error": None,
            "user": {"can_merge": not STATE.cannot_merge},
            "diff_refs": {"base_sha": "%040x" % 0xBA5E, "head_sha": mr["sha"],
                          "start_sha": "%040x" % 0xBA5E},
            "head_pipeline": None if mr["pipeline"] == "none" else {
                "id": mr["id"], "sha": mr["sha"], "ref": mr["source_branch"],
                "status": mr["pipeline"]},
            "first_contribution": False, "diverged_commits_count": 0,
            "rebase_in_progress": False,
        })
    return j


def label_json(lb):
    return {"id": lb["id"], "name": lb["name"], "color": lb["color"], "text_color": "#FFFFFF",
            "description": lb["description"], "open_issues_count": 0, "closed_issues_count": 0,
            "open_merge_requests_count": 0, "subscribed": False, "priority": None,
            "is_project_label": True}


def error_body(status, shape="message", message=None):
    """GitLab's four error shapes (client-go gitlab.go parseError)."""
    reason = {400: "Bad request", 401: "Unauthorized", 403: "Forbidden", 404: "Not found",
              405: "Method Not Allowed", 409: "Conflict", 422: "Unprocessable Entity",
              500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}
    text = message or "%d %s" % (status, reason.get(status, "Error"))
    if shape == "fields":
        return {"message": {"base": [text]}}
    if shape == "list":
        return {"message": [text]}
    if shape == "error":
        return {"error": text, "error_description": text}
    return {"message": text}


def split_csv(v):
    """labels as Grape coerces them: a CSV string or a list."""
    if v is None:
        return None
    if isinstance(v, list):
        out = []
        for x in v:
            out += split_csv(x)
        return out
    return [s.strip() for s in str(v).split(",") if s.strip()]


def int_list(v):
    """assignee_ids / reviewer_ids: a JSON list, a CSV string or repeated form fields."""
    if v is None:
        return None
    if isinstance(v, list):
        items = v
    else:
        items = [s for s in str(v).split(",") if s.strip()]
    out = []
    for x in items:
        if isinstance(x, bool):
            raise ValueError(x)
        out.append(int(x))
    return out


def boolish(v):
    if isinstance(v, bool):
        return v
    return str(v).lower() in ("true", "1", "yes", "t")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-gitlab/1"

    def log_message(self, fmt, *args):  # quiet
        pass

    # ---- plumbing ---------------------------------------------------------------------

    def base_url(self):
        return "http://" + (self.headers.get("Host") or "127.0.0.1")

    def read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def send(self, status, obj=None, raw=None, headers=None, ctype="application/json"):
        if raw is None:
            raw = b"" if obj is None else json.dumps(obj).encode()
        elif isinstance(raw, str):
            raw = raw.encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(raw)))
        self.send_header("Cache-Control", "no-cache")
        for k, v in (headers or {}).items():
            self.send_header(k, str(v))
        if self.rate is not None:
            for k, v in self.rate.items():
                self.send_header(k, str(v))
        self.end_headers()
        self.wfile.write(raw)
        if self.entry is not None:
            self.entry["status"] = status

    def retry_later(self, seconds, status=429, extra=None):
        """GitLab's throttle answer (Rack::Attack): plain text and Retry-After."""
        h = {"Retry-After": int(seconds)}
        h.update(extra or {})
        return self.send(status, raw="Retry later\n", headers=h, ctype="text/plain")

    def count_request(self):
        """The rate-limit window; returns (headers, over) for this request."""
        with LOCK:
            now = time.time()
            if now - STATE.window_start >= STATE.period:
                STATE.window_start = now
                STATE.observed = 0
            STATE.observed += 1
            reset = int(STATE.window_start + STATE.period) + 1
            h = {"RateLimit-Name": "throttle_authenticated_api",
                 "RateLimit-Limit": STATE.limit,
                 "RateLimit-Observed": STATE.observed,
                 "RateLimit-Remaining": max(STATE.limit - STATE.observed, 0),
                 "RateLimit-Reset": reset,
                 "RateLimit-ResetTime": formatdate(reset, usegmt=True)}
            return h, STATE.observed > STATE.limit, max(int(reset - now), 1)

    def do_GET(self):
        self.handle_any("GET")

    def do_POST(self):
        self.handle_any("POST")

    def do_PUT(self):
        self.handle_any("PUT")

    def do_PATCH(self):
        self.handle_any("PATCH")

    def do_DELETE(self):
        self.handle_any("DELETE")

    # ---- dispatch -------------------------------------------------------------------------

    def handle_any(self, method):
        self.entry = None
        self.rate = None
        body = self.read_body()
        url = urlsplit(self.path)
        if url.path == "/_control" and method == "POST":
            return self.control(body)
        if url.path in ("/_log", "/_prs", "/_labels") and method == "GET":
            return self.inspect(url)

        auth_form, cred, header_line = "none", None, ""
        if self.headers.get("PRIVATE-TOKEN") is not None:
            auth_form, cred = "private-token", self.headers.get("PRIVATE-TOKEN")
            header_line = "PRIVATE-TOKEN: " + cred
        elif self.headers.get("Authorization") is not None:
            a = self.headers.get("Authorization")
            header_line = "Authorization: " + a
            m = re.fullmatch(r"Bearer (\S+)", a)
            auth_form, cred = ("bearer", m.group(1)) if m else ("other", a.split(" ", 1)[-1])
        if auth_form == "none":
            auth_state = "none"
        else:
            auth_state = "ok" if auth_form in ("private-token", "bearer") and cred == STATE.token else "bad"
        self.entry = {
            "method": method, "path": self.path, "auth": auth_state, "auth_form": auth_form,
            "t": time.time(), "status": 0, "user_agent": self.headers.get("User-Agent"),
            "content_type": self.headers.get("Content-Type"),
            "body": body.decode("utf-8", "replace"),
        }
        with LOCK:
            STATE.log.append(self.entry)

        if not url.path.startswith(API + "/"):
            return self.send(404, {"error": "404 Not Found"})
        if STATE.unauthorized or auth_state != "ok":
            return self.send(401, {"message": "401 Unauthorized"})

        rest = url.path[len(API):]
        # GitLab documents no RateLimit-* headers for the Projects and Users APIs (GL5)
        headers, over, wait = self.count_request()
        quiet = (method == "GET" and (re.fullmatch(r"/projects/[^/]+", rest)
                                       or rest in ("/users", "/user")))
        if not quiet:
            self.rate = headers
        if over:
            self.rate = headers
            return self.retry_later(wait)

        fault = self.take_fault(method, url.path)
        after = None
        if fault:
            kind = fault["kind"]
            if kind == "status":
                st = int(fault.get("status", 500))
                return self.send(st, error_body(st, fault.get("shape", "message"), fault.get("message")))
            if kind == "rate_limit":
                reset = int(time.time()) + int(fault.get("reset_in", 2))
                self.rate = dict(headers, **{"RateLimit-Remaining": 0, "RateLimit-Reset": reset,
                                             "RateLimit-Observed": STATE.limit + 1,
                                             "RateLimit-ResetTime": formatdate(reset, usegmt=True)})
                return self.retry_later(int(fault.get("reset_in", 2)))
            if kind == "retry_after":
                return self.retry_later(int(fault.get("seconds", 1)), int(fault.get("status", 429)))
            if kind == "body":
                return self.send(int(fault.get("status", 200)), raw=fault.get("body", ""),
                                 headers=fault.get("headers", {}),
                                 ctype=fault.get("content_type", "application/json"))
            if kind == "redirect":
                loc = fault["location"].replace("{base}", self.base_url()).replace("{path}", self.path)
                return self.send(int(fault.get("status", 301)), {"message": "301 Moved Permanently"},
                                 headers={"Location": loc})
            if kind == "delay":
                time.sleep(float(fault.get("seconds", 1)))
            if kind == "echo_auth":
                text = "." * int(fault.get("pad", 0)) + "Token %s is not allowed here" % echo_forms(
                    header_line, cred or "", fault.get("form", "raw"))
                st = int(fault.get("status", 403))
                if fault.get("html"):
                    return self.send(st, raw=("<html>%s</html>\n" % text).encode(), ctype="text/html")
                return self.send(st, {"message": text})
            if kind == "create_then_fail":
                after = int(fault.get("status", 502))

        if rest == "/users" and method == "GET":
            return self.list_users(parse_qs(url.query))
        if rest == "/user" and method == "GET":
            with LOCK:
                return self.send(200, user_json(self.base_url(), STATE.user(BOT)))

        mm = re.fullmatch(r"/projects/([^/]+)(/.*)?", rest)
        if not mm:
            return self.send(404, {"error": "404 Not Found"})
        pid, sub = unquote(mm.group(1)), mm.group(2) or ""
        moved = None
        with LOCK:
            if pid.isdigit():
                proj = STATE.by_id.get(int(pid))
            else:
                proj = STATE.projects.get(pid)
                moved = STATE.renamed.get(pid)
        if proj is None and not pid.isdigit() and moved:
            loc = "%s%s/projects/%s%s" % (self.base_url(), API, enc(moved), sub)
            if url.query:
                loc += "?" + url.query
            return self.send(301, {"message": "301 Moved Permanently"}, headers={"Location": loc})
        if proj is None:
            return self.send(404, {"message": "404 Project Not Found"})
        if proj["path"] in STATE.forbidden:
            if STATE.forbidden[proj["path"]] == "scope":
                return self.send(403, {"error": "insufficient_scope",
                                       "error_description": "The request requires higher privileges "
                                       "than provided by the access token.", "scope": "api"})
            return self.send(403, {"message": "403 Forbidden"})

        if sub == "" and method == "GET":
            with LOCK:
                return self.send(200, project_json(self.base_url(), proj))
        if sub == "/labels" and method == "GET":
            return self.list_labels(proj, url, parse_qs(url.query))
        if sub == "/merge_requests" and method == "GET":
            return self.list_mrs(proj, url, parse_qs(url.query))
        if sub == "/merge_requests" and method == "POST":
            params = self.params(url, body)
            if params is None:
                return
            return self.create_mr(proj, params, after)
        m2 = re.fullmatch(r"/merge_requests/(\d+)(/merge)?", sub)
        if m2:
            iid = int(m2.group(1))
            with LOCK:
                mr = self.find(proj, iid)
            if mr is None:
                return self.send(404, {"message": "404 Not found"})
            if m2.group(2) and method == "PUT":
                params = self.params(url, body)
                if params is None:
                    return
                return self.merge_mr(mr, params, after)
            if not m2.group(2) and method == "GET":
                with LOCK:
                    return self.send(200, mr_json(self.base_url(), mr, True))
            if not m2.group(2) and method == "PUT":
                params = self.params(url, body)
                if params is None:
                    return
                return self.update_mr(mr, params, after)
            return self.send(405, {"message": "405 Method Not Allowed"})
        return self.send(404, {"error": "404 Not Found"})

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

    def params(self, url, body):
        """Grape's params: the query string, then a JSON or form body over it."""
        p = {k: (v if k.endswith("[]") else v[-1]) for k, v in parse_qs(url.query).items()}
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if body:
            if ctype == "application/json":
                try:
                    j = json.loads(body)
                except ValueError:
                    self.send(400, {"error": "The provided content-type 'application/json' did not "
                                    "match the request body"})
                    return None
                if not isinstance(j, dict):
                    self.send(400, {"error": "body is not a JSON object"})
                    return None
                p.update(j)
            elif ctype in ("application/x-www-form-urlencoded", ""):
                for k, v in parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True).items():
                    p[k] = v if k.endswith("[]") else v[-1]
            else:
                self.send(415, {"error": "The provided content-type '%s' is not supported." % ctype})
                return None
        for k in list(p):  # assignee_ids[]=1&assignee_ids[]=2
            if k.endswith("[]"):
                p[k[:-2]] = p.pop(k)
        return p

    # ---- pagination ---------------------------------------------------------------------

    def page(self, url, q, items):
        """Offset pagination as GitLab's OffsetHeaderBuilder writes it (docs api/rest
        "Pagination"; client-go gitlab.go populatePageValues/populateLinkValues)."""
        try:
            per_page = int(q.get("per_page", ["20"])[0])
            page = int(q.get("page", ["1"])[0])
        except ValueError:
            self.send(400, {"error": "page is invalid, per_page is invalid"})
            return None, None
        if per_page < 1:
            per_page = 20
        per_page = min(per_page, 100)
        page = max(page, 1)
        total = len(items)
        pages = max((total + per_page - 1) // per_page, 1)
        chunk = items[(page - 1) * per_page: page * per_page]
        params = {k: v[-1] for k, v in q.items() if k not in ("page", "per_page")}

        def link(n, rel):
            qs = urlencode(dict(params, page=n, per_page=per_page))
            return '<%s%s?%s>; rel="%s"' % (self.base_url(), url.path, qs, rel)
        links = []
        if page > 1:
            links.append(link(page - 1, "prev"))
        if page < pages:
            links.append(link(page + 1, "next"))
        links += [link(1, "first"), link(pages, "last")]
        h = {"Link": ", ".join(links), "X-Page": page, "X-Per-Page": per_page,
             "X-Next-Page": page + 1 if page < pages else "",
             "X-Prev-Page": page - 1 if page > 1 else "",
             "X-Total": total, "X-Total-Pages": pages}
        return chunk, h

    # ---- endpoints ----------------------------------------------------------------------

    def list_users(self, q):
        # client-go users.go ListUsers; docs api/users "username"
        name = q.get("username", [None])[0]
        with LOCK:
            us = [u for u in STATE.users.values() if name is None or u["username"].lower() == name.lower()]
            return self.send(200, [user_json(self.base_url(), u) for u in us])

    def list_labels(self, proj, url, q):
        # client-go labels.go ListLabels / ListLabelsOptions (search: a substring, any case)
        search = q.get("search", [""])[0].lower()
        with LOCK:
            items = [label_json(lb) for lb in sorted(proj["labels"].values(), key=lambda x: x["name"])
                     if search in lb["name"].lower()]
        chunk, h = self.page(url, q, items)
        if chunk is None:
            return
        return self.send(200, chunk, headers=h)

    def list_mrs(self, proj, url, q):
        # client-go merge_requests.go ListProjectMergeRequests / ListProjectMergeRequestsOptions
        state = q.get("state", ["all"])[0]
        if state not in ("opened", "closed", "locked", "merged", "all"):
            return self.send(400, {"error": "state does not have a valid value"})
        order_by = q.get("order_by", ["created_at"])[0]
        if order_by not in ("created_at", "updated_at", "title", "merged_at"):
            return self.send(400, {"error": "order_by does not have a valid value"})
        sort = q.get("sort", ["desc"])[0]
        if sort not in ("asc", "desc"):
            return self.send(400, {"error": "sort does not have a valid value"})
        src = q.get("source_branch", [None])[0]
        tgt = q.get("target_branch", [None])[0]
        with LOCK:
            mrs = list(proj["mrs"])
        if state != "all":
            mrs = [m for m in mrs if m["state"] == state]
        if src is not None:
            mrs = [m for m in mrs if m["source_branch"] == src]
        if tgt is not None:
            mrs = [m for m in mrs if m["target_branch"] == tgt]
        key = {"created_at": lambda m: (m["created"], m["id"]),
               "updated_at": lambda m: (m["updated"], m["id"]),
               "title": lambda m: (m["title"], m["id"]),
               "merged_at": lambda m: (m["merged_at"] or 0, m["id"])}[order_by]
        mrs.sort(key=key, reverse=(sort == "desc"))
        chunk, h = self.page(url, q, mrs)
        if chunk is None:
            return
        with LOCK:
            items = [mr_json(self.base_url(), m) for m in chunk]
        return self.send(200, items, headers=h)

    def users_for(self, ids):
        """user ids -> usernames; GitLab drops ids it does not know."""
        by_id = {u["id"]: n for n, u in STATE.users.items()}
        return [by_id[i] for i in ids if i in by_id]

    def check_fields(self, p, create):
        """Grape's coercion and the model's validations; returns an error already sent."""
        if create:
            missing = [k for k in ("source_branch", "target_branch", "title")
                       if p.get(k) in (None, "")]
            if missing:
                self.send(400, {"error": ", ".join("%s is missing" % k for k in missing)})
                return True
        for k in ("source_branch", "target_branch", "title", "description", "state_event"):
            if k in p and p[k] is not None and not isinstance(p[k], str):
                self.send(400, {"error": "%s is invalid" % k})
                return True
        for k in ("assignee_ids", "reviewer_ids"):
            try:
                p[k] = int_list(p.get(k))
            except (ValueError, TypeError):
                self.send(400, {"error": "%s is invalid" % k})
                return True
        if "title" in p and p["title"] is not None and len(p["title"]) > MAX_TITLE:
            self.send(400, {"message": {"title": ["is too long (maximum is %d characters)" % MAX_TITLE]}})
            return True
        if "description" in p and p["description"] is not None and len(p["description"]) > MAX_DESCRIPTION:
            self.send(400, {"message": {"description": [
                "is too long (maximum is %d characters)" % MAX_DESCRIPTION]}})
            return True
        if "state_event" in p and p["state_event"] not in (None, "close", "reopen"):
            self.send(400, {"error": "state_event does not have a valid value"})
            return True
        return False

    def apply_labels(self, proj, mr, p):
        # a label that does not exist is created as a project label (gitlab-org/gitlab#454576)
        if "labels" in p and p["labels"] is not None:
            mr["labels"] = []
            for name in split_csv(p["labels"]):
                if name not in mr["labels"]:
                    mr["labels"].append(STATE.label(proj, name, True)["name"])
        for name in split_csv(p.get("add_labels")) or []:
            if name not in mr["labels"]:
                mr["labels"].append(STATE.label(proj, name, True)["name"])
        for name in split_csv(p.get("remove_labels")) or []:
            if name in mr["labels"]:
                mr["labels"].remove(name)

    def conflict(self, proj, mr_or_none, source, target):
        for m in proj["mrs"]:
            # a fork's merge request (another source project) is no conflict: GitLab
            # checks source project, source branch and target branch together
            if m is not mr_or_none and m["state"] == "opened" and m["source_branch"] == source \
                    and m["target_branch"] == target and "source_project" not in m:
                return m
        return None

    def create_mr(self, proj, p, after):
        # client-go merge_requests.go CreateMergeRequest / CreateMergeRequestOptions;
        # errors as lib/api/merge_requests.rb handle_merge_request_errors! (forges.md)
        if self.check_fields(p, True):
            return
        with LOCK:
            if p["source_branch"] == p["target_branch"]:
                return self.send(422, {"message": ["You can't use same project/branch for source and target"]})
            other = self.conflict(proj, None, p["source_branch"], p["target_branch"])
            if other:
                return self.send(409, {"message": [
                    "Another open merge request already exists for this source branch: !%d" % other["iid"]]})
            mr = STATE.new_mr(proj, p["source_branch"], p["target_branch"], p["title"],
                              p.get("description") or "", BOT)
            self.apply_labels(proj, mr, p)
            mr["assignees"] = self.users_for(p.get("assignee_ids") or [])
            mr["reviewers"] = self.users_for(p.get("reviewer_ids") or [])
            if "remove_source_branch" in p:
                mr["remove_source_branch"] = boolish(p["remove_source_branch"])
            if "squash" in p:
                mr["squash"] = boolish(p["squash"])
            out = mr_json(self.base_url(), mr, True)
        if after:
            return self.send(after, error_body(after))
        return self.send(201, out)

    def update_mr(self, mr, p, after):
        # client-go merge_requests.go UpdateMergeRequest / UpdateMergeRequestOptions
        keys = ("title", "description", "target_branch", "labels", "add_labels", "remove_labels",
                "state_event", "assignee_id", "assignee_ids", "reviewer_ids", "milestone_id",
                "remove_source_branch", "squash", "discussion_locked", "allow_collaboration")
        if not any(k in p for k in keys):
            return self.send(400, {"error": ", ".join(keys) + " are missing, at least one parameter must be provided"})
        if self.check_fields(p, False):
            return
        with LOCK:
            proj = mr["project"]
            target = p.get("target_branch") or mr["target_branch"]
            if target == mr["source_branch"]:
                return self.send(422, {"message": ["You can't use same project/branch for source and target"]})
            if p.get("state_event") == "reopen" and mr["state"] == "closed":
                other = self.conflict(proj, mr, mr["source_branch"], target)
                if other:
                    return self.send(409, {"message": [
                        "Another open merge request already exists for this source branch: !%d" % other["iid"]]})
                mr["state"], mr["closed"] = "opened", None
            elif p.get("state_event") == "close" and mr["state"] == "opened":
                mr["state"], mr["closed"] = "closed", time.time()
            if p.get("title") is not None:
                mr["title"] = p["title"]
            if "description" in p:
                mr["description"] = p["description"] or ""
            mr["target_branch"] = target
            self.apply_labels(proj, mr, p)
            if p.get("assignee_ids") is not None:
                mr["assignees"] = self.users_for(p["assignee_ids"])
            if p.get("reviewer_ids") is not None:
                mr["reviewers"] = self.users_for(p["reviewer_ids"])
            if "remove_source_branch" in p:
                mr["remove_source_branch"] = boolish(p["remove_source_branch"])
            mr["updated"] = time.time()
            out = mr_json(self.base_url(), mr, True)
        if after:
            return self.send(after, error_body(after))
        return self.send(200, out)

    def merge_mr(self, mr, p, after):
        # client-go merge_requests.go AcceptMergeRequest / AcceptMergeRequestOptions;
        # statuses from docs api/merge_requests "Merge a merge request" (forges.md)
        with LOCK:
            mr["merge_attempts"] += 1
            if STATE.cannot_merge:
                return self.send(401, {"message": "401 Unauthorized"})
            if mr["state"] != "opened" or DRAFT_RE.match(mr["title"]):
                return self.send(405, {"message": "405 Method Not Allowed"})
            if mr["race"] > 0:
                mr["race"] -= 1
                return self.send(405, {"message": "405 Method Not Allowed"})
            if p.get("sha") not in (None, "") and p["sha"] != mr["sha"]:
                return self.send(409, {"message": "SHA does not match HEAD of source branch: %s" % mr["sha"]})
            if mr["has_conflicts"]:
                return self.send(422, {"message": "Branch cannot be merged"})
            auto = boolish(p.get("auto_merge", False)) or boolish(p.get("merge_when_pipeline_succeeds", False))
            if auto and mr["pipeline"] == "running":
                # scheduled: merged when the pipeline succeeds (set_pr pipeline=success)
                mr["auto_merge"] = True
            elif mr["pipeline"] in ("running", "failed"):
                # pipeline pending or failed: cannot merge now (forges.md, merge errors)
                return self.send(405, {"message": "405 Method Not Allowed"})
            else:
                # checks pass already (or none): GitLab merges at once (GL7 #37292)
                self.merge_now(mr)
            mr["updated"] = time.time()
            out = mr_json(self.base_url(), mr, True)
        if after:
            return self.send(after, error_body(after))
        return self.send(200, out)

    @staticmethod
    def merge_now(mr):
        now = time.time()
        mr["state"], mr["merged_at"], mr["auto_merge"] = "merged", now, False
        mr["updated"] = now

    @staticmethod
    def find(proj, iid):
        for m in proj["mrs"]:
            if m["iid"] == iid:
                return m
        return None

    # ---- inspection and controls ----------------------------------------------------------

    def inspect(self, url):
        q = parse_qs(url.query)
        with LOCK:
            if url.path == "/_log":
                return self.send(200, {"requests": list(STATE.log)})
            path = q.get("project", q.get("repo", [""]))[0]
            proj = STATE.projects.get(path)
            if proj is None:
                return self.send(404, {"error": "no such project %r" % path})
            if url.path == "/_labels":
                return self.send(200, [dict(label_json(lb), auto_created=lb["auto_created"])
                                       for lb in proj["labels"].values()])
            out = []
            for m in proj["mrs"]:
                j = mr_json(self.base_url(), m, True)
                j["assignee_usernames"] = list(m["assignees"])
                j["reviewer_usernames"] = list(m["reviewers"])
                j["merge_attempts"] = m["merge_attempts"]
                j["remove_source_branch"] = m["remove_source_branch"]
                out.append(j)
            return self.send(200, out)

    def control(self, body):
        try:
            j = json.loads(body or b"{}")
            action = j["action"]
        except (ValueError, KeyError, TypeError):
            return self.send(400, {"error": "want {\"action\": ...}"})
        ok = {"ok": True}
        with LOCK:
            if action == "reset":
                STATE.reset()
                return self.send(200, ok)
            if action == "project":
                p = STATE.project(j["path"], j.get("default_branch", "main"), j.get("id"))
                for name in j.get("labels", []):
                    STATE.label(p, name, False)
                return self.send(200, project_json(self.base_url(), p))
            if action == "user":
                return self.send(200, user_json(self.base_url(), STATE.user(j["username"])))
            if action == "label":
                STATE.label(STATE.projects[j["project"]], j["name"], False)
                return self.send(200, ok)
            if action == "unauthorized":
                STATE.unauthorized = bool(j.get("value", True))
                return self.send(200, ok)
            if action == "forbidden":
                path = j.get("project") or j["repo"]
                if j.get("value", True):
                    STATE.forbidden[path] = j.get("shape", "message")
                else:
                    STATE.forbidden.pop(path, None)
                return self.send(200, ok)
            if action == "rate_limit":
                STATE.limit = int(j["limit"])
                STATE.period = float(j.get("period", 60))
                STATE.window_start, STATE.observed = time.time(), 0
                return self.send(200, ok)
            if action == "merge_race":
                STATE.merge_race = int(j.get("count", 1))
                return self.send(200, ok)
            if action == "cannot_merge":
                STATE.cannot_merge = bool(j.get("value", True))
                return self.send(200, ok)
            if action == "rename":
                p = STATE.projects.pop(j["from"])
                p["path"] = j["to"]
                STATE.projects[j["to"]] = p
                STATE.renamed[j["from"]] = j["to"]
                return self.send(200, project_json(self.base_url(), p))
            if action == "fault":
                f = dict(j)
                del f["action"]
                f.setdefault("count", 1)
                STATE.faults.append(f)
                return self.send(200, ok)
            proj_path = j.get("project") or j.get("repo")
            if action in ("create_pr", "set_pr") and proj_path not in STATE.projects:
                return self.send(404, {"error": "no such project %r" % proj_path})
            if action == "create_pr":
                proj = STATE.projects[proj_path]
                author = j.get("author", "human")
                STATE.user(author)
                mr = STATE.new_mr(proj, j.get("source_branch") or j["head"],
                                  j.get("target_branch") or j.get("base") or proj["default_branch"],
                                  j.get("title", "a human's merge request"),
                                  j.get("description", j.get("body", "")), author)
                if j.get("source_project"):  # from a fork: its own project, another id
                    mr["source_project"] = STATE.project(j["source_project"])
                self.apply(mr, j)
                return self.send(200, mr_json(self.base_url(), mr, True))
            if action == "set_pr":
                mr = self.find(STATE.projects[proj_path], int(j.get("iid") or j["number"]))
                if not mr:
                    return self.send(404, {"error": "no such merge request"})
                self.apply(mr, j)
                return self.send(200, mr_json(self.base_url(), mr, True))
        return self.send(400, {"error": "unknown action %r" % action})

    def apply(self, mr, j):
        now = time.time()
        if "title" in j:
            mr["title"] = j["title"]
        if "description" in j or "body" in j:
            mr["description"] = j.get("description", j.get("body")) or ""
        if "labels" in j:
            mr["labels"] = [STATE.label(mr["project"], n, False)["name"] for n in split_csv(j["labels"])]
        for k in ("has_conflicts", "sha"):
            if k in j:
                mr[k] = j[k]
        if "pipeline" in j:
            mr["pipeline"] = j["pipeline"]
            if j["pipeline"] == "success" and mr["auto_merge"] and mr["state"] == "opened":
                self.merge_now(mr)
        if j.get("merged") or j.get("state") == "merged":
            mr["state"], mr["merged_at"], mr["closed"] = "merged", now, None
        elif j.get("state") == "closed":
            mr["state"], mr["closed"] = "closed", now
        elif j.get("state") in ("opened", "open"):
            mr["state"], mr["closed"] = "opened", None
        elif j.get("state") == "locked":
            mr["state"] = "locked"
        mr["updated"] = now


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
    ap.add_argument("--token", default=os.environ.get("FAKE_GITLAB_TOKEN"))
    ap.add_argument("--lifetime", type=float, default=300.0)
    ap.add_argument("--project", action="append", default=[],
                    help="a project path (group/sub/name) that exists from the start")
    ap.add_argument("--user", action="append", default=[], help="a user that exists from the start")
    a = ap.parse_args()
    if not a.token:
        sys.exit("fake_gitlab.py: no token ($FAKE_GITLAB_TOKEN or --token)")
    STATE = State(a.token, a.project, a.user)
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
