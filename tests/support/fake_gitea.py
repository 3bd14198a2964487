#!/usr/bin/env python3
"""fake_gitea.py - a stateful fake of the Gitea / Forgejo REST API (v1) pull-request endpoints.

Python 3 standard library only. Listens on 127.0.0.1 on an ephemeral port and writes the
port to --port-file (atomically, once it is listening). The token it accepts comes from
$FAKE_GITEA_TOKEN (or --token); it belongs to the user --user (default cpgo).

The API lives under /api/v1 as on a real server (api_url: http://127.0.0.1:PORT/api/v1).
Paths, methods, fields and status codes follow Gitea's own API description: the swagger
comments in go-gitea/gitea routers/api/v1/repo/pull.go (ListPullRequests, GetPullRequest,
GetPullRequestByBaseHead, CreatePullRequest, EditPullRequest, MergePullRequest), the error
document of services/context/api.go (APIError {message, url}; genAPILinks/SetLinkHeader),
and the official Go client code.gitea.io/sdk/gitea v0.25.1 (pull.go: PullRequest,
CreatePullRequestOption, EditPullRequestOption, MergePullRequestOption; pull_review.go:
CreateReviewRequests; repo_label.go: ListRepoLabels; org_label.go: ListOrgLabels; repo.go:
Repository; list_options.go: page/limit; client.go doRequest: "Authorization: token").
  GET   /version                                  {"version"}
  GET   /user                                     the token's user
  GET   /repos/{o}/{r}                            the repository (default_branch)
  GET   /repos/{o}/{r}/pulls                      state=open|closed|all, base_branch, sort,
                                                  page, limit; Link (next,last,first,prev,
                                                  joined by ","), X-Total-Count
  POST  /repos/{o}/{r}/pulls                      {head, base, title, body, assignee,
                                                  assignees[], labels[] (IDs), reviewers[],
                                                  team_reviewers[], milestone}: 201;
                                                  409 "pull request already exists for these
                                                  targets [...]"; 422 head == base, unknown
                                                  assignee or reviewer
  GET   /repos/{o}/{r}/pulls/{index}              the pull request
  PATCH /repos/{o}/{r}/pulls/{index}              {title, body, base, assignees, labels (IDs,
                                                  replace), state}: 201 (sic, as Gitea);
                                                  412 a state change of a merged PR
  GET   /repos/{o}/{r}/pulls/{base}/{head}        200 or 404 (Gitea >= 1.22; the head may be
                                                  branch, owner:branch or owner/repo:branch);
                                                  the oldest for that pair, in any state
  GET   /repos/{o}/{r}/pulls/{index}/merge        204 merged, 404 not
  POST  /repos/{o}/{r}/pulls/{index}/merge        {Do, merge_when_checks_succeed,
                                                  head_commit_id, delete_branch_after_merge}:
                                                  200 merged, 201 auto-merge scheduled,
                                                  404 closed, 405 merged/WIP/not mergeable/
                                                  checks pending, 409 already scheduled or
                                                  head out of date, 422 bad Do
  POST  /repos/{o}/{r}/pulls/{index}/requested_reviewers  {reviewers[]}: 201; 422 unknown
  POST  /repos/{o}/{r}/issues/{index}/labels      {labels: [IDs]}: 200, the issue's labels
                                                  (added; unknown IDs dropped)
  GET   /repos/{o}/{r}/labels, /orgs/{org}/labels page, limit; Link, X-Total-Count
A draft is a pull request whose title starts with "WIP:" or "[WIP]" (any case: Gitea's
WORK_IN_PROGRESS_PREFIXES); its JSON says "draft": true.

Authentication (services/auth: the API token middleware and basic.go): "Authorization:
token <t>", "Authorization: Bearer <t>", basic auth with the token as the password (any
user name) or as the user name (empty password or x-oauth-basic); ?token= / ?access_token=
in the query work too (deprecated by Gitea) and are logged as auth_form "query" so that a
test can assert a client never puts its token in a URL. Anything else: 401
{"message": "token is required" (none) or "invalid username, password or token", "url"}.
Gitea sends no rate-limit headers of its own; the faults below make 429s anyway (a
reverse proxy in front of Gitea, or a Forgejo with a limiter).

A repository renamed with the control "rename" answers every request to its old path with
307 (what Gitea's RedirectToRepo in services/context/repo.go sends; "status" chooses 301)
and a Location relative to the server (/api/v1/repos/NEW/...), query kept.

Test controls (no authentication, not logged):
  POST /_control {"action": ...}
    reset                              forget everything but the token
    reset_faults                       forget the faults not yet spent
    unauthorized {"value": bool}       every API request answers 401 (a revoked token)
    forbidden {"repo", "write_only"?}  403 for that repository (only on writes if write_only)
    version {"version": "1.21.11"}     what GET /version says; below 1.22 the
                                       pulls/{base}/{head} route answers 404 every time
    timezone {"minutes": m}            the UTC offset of JSON times (--tz-minutes, 120)
    max_items {"value": n}             MAX_RESPONSE_ITEMS (default 50): the largest limit
    users {"names": [...]}             users that exist (assignees, reviewers); the token's
                                       user always exists
    repo {"repo", "default_branch"?, "org"?, "labels"?: [names], "org_labels"?: [names],
          "merge_styles"?: [Do values], "default_merge_style"?}
                                       create or configure a repository, its labels,
                                       (org: true) its owner as an organization, the merge
                                       styles it allows (others: 405) and its default one
    rename {"repo", "to", "status"?}   the repository moves; its old path redirects
    create_pr {"repo","head","base","title","body","state","merged","user","labels"}
                                       a pull request made by a human
    set_pr {"repo","number","state","merged","body","title","checks","mergeable",
            "branch_deleted"}          a person edits, closes, merges; checks: pending|
                                       success|failure (default pending); mergeable: bool;
                                       branch_deleted: the head branch is gone (its "Delete
                                       branch" button), so head.ref is refs/pull/N/head
    fault {"kind", "count", "method"?, "path"? (substring), ...}: the next `count` matching
        API requests misbehave; kinds:
          status {"status", "message"?}        that status, Gitea's error document
          rate_limit {"seconds"}               429 JSON error, Retry-After: seconds,
                                               X-RateLimit-Limit/-Remaining: 0/-Reset
          retry_after {"seconds", "status"}    status (429 or 503), text/plain body,
                                               Retry-After only (a proxy's answer)
          body {"status", "body", "content_type"?, "headers"?}  a raw body
          redirect {"status", "location"}      "{base}" and "{path}" are substituted
          delay {"seconds"}                    sleep, then answer normally
          create_then_fail {"status"}          do the request, then answer status
          echo_auth {"form"?, "pad"?, "status"?, "html"?}  an error (403 by default) whose
                                               message quotes the credential after `pad`
                                               dots: raw (the header), token, percent,
                                               base64, basic (base64 of cpgo:token), all
  GET /_log   {"requests": [{method, path, host, auth: ok|bad|none, auth_form: token|bearer|
               basic|query|other|none, t (epoch s), status, user_agent, content_type,
               body}], "mutations": n}
  GET /_prs?repo=o/r   all pull requests of a repository, full form, plus "_fake":
               {"auto_merge": {...} or null, "checks", "mergeable", "poster"}
  GET /_labels?repo=o/r  {"repo": [labels], "org": [labels]}

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
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, quote, unquote, urlencode, urlsplit

API = "/api/v1"
SWAGGER = "/api/swagger"  # the "url" of every error document (setting.API.SwaggerURL)
LOCK = threading.RLock()
WIP_PREFIXES = ("WIP:", "[WIP]")  # setting.Repository.PullRequest.WorkInProgressPrefixes
MERGE_STYLES = ("merge", "rebase", "rebase-merge", "squash", "fast-forward-only",
                "manually-merged")
LABEL_COLORS = ("e11d21", "eb6420", "fbca04", "009800", "006b75", "207de5")


def iso(t):
    """Times as Gitea writes them: RFC 3339 in the server's own zone (time.Time marshalled
    in setting.DefaultUILocation), so "+02:00" rather than "Z" on a server not in UTC."""
    tz = timezone(timedelta(minutes=STATE.tz_minutes))
    return datetime.fromtimestamp(int(t), tz).isoformat()


def version_tuple(v):
    out = []
    for part in re.split(r"[.+-]", v)[:3]:
        out.append(int(part) if part.isdigit() else 0)
    return tuple(out + [0] * (3 - len(out)))


def is_wip(title):
    return any((title or "").upper().startswith(p) for p in WIP_PREFIXES)


def echo_forms(auth, form, user):
    """The credential as a careless server or proxy might quote it back."""
    cred = auth.split(" ", 1)[-1]
    if auth.lower().startswith("basic "):
        try:
            cred = base64.b64decode(cred).decode().split(":", 1)[-1]
        except (ValueError, UnicodeDecodeError):
            pass
    forms = {
        "raw": auth,
        "token": cred,
        "percent": quote(auth, safe=""),
        "base64": base64.b64encode(auth.encode()).decode(),
        "basic": base64.b64encode(("%s:%s" % (user, cred)).encode()).decode(),
    }
    if form == "all":
        return " ".join(forms.values())
    return forms[form]


class State:
    def __init__(self, token, user, tz_minutes):
        self.token = token
        self.user = user
        self.tz_default = tz_minutes
        self.reset()

    def reset(self):
        self.repos = {}  # "o/r" -> {"id", "prs": [pr], "next", "default_branch", "labels"}
        self.orgs = {}  # org -> {"labels": [label]}
        self.renamed = {}  # "o/old" -> ("o/new", status)
        self.next_label = 1
        self.next_pr_id = 1
        self.faults = []
        self.log = []
        self.mutations = 0
        self.unauthorized = False
        self.forbidden = {}  # "o/r" -> write_only
        self.version = "1.22.6"
        self.max_items = 50  # setting.API.MaxResponseItems
        self.default_paging = 30  # setting.API.DefaultPagingNum
        self.users = {self.user}
        self.tz_minutes = self.tz_default

    def repo(self, full):
        if full not in self.repos:
            rid = 1000 + len(self.repos)
            self.repos[full] = {"id": rid, "prs": [], "next": 1, "default_branch": "main",
                                "labels": [], "merge_styles": list(MERGE_STYLES[:5]),
                                "default_merge_style": "merge"}
        return self.repos[full]

    def label(self, name, org=False):
        lab = {"id": self.next_label, "name": name,
               "color": LABEL_COLORS[self.next_label % len(LABEL_COLORS)],
               "description": "", "exclusive": False, "is_archived": False, "org": org}
        self.next_label += 1
        return lab

    def labels_of(self, full):
        owner = full.split("/")[0]
        repo_labels = list(self.repo(full)["labels"])
        org_labels = list(self.orgs[owner]["labels"]) if owner in self.orgs else []
        return repo_labels, org_labels

    def new_pr(self, full, head, base, title, body, poster):
        owner, name = full.split("/")
        r = self.repo(full)
        head_full, ref = parse_head(head, owner, name)
        now = time.time()
        pr = {
            "id": self.next_pr_id, "number": r["next"], "state": "open", "title": title,
            "body": body, "merged": False, "created": now, "updated": now, "closed": None,
            "merged_at": None, "head_full": head_full, "ref": ref, "base": base,
            "repo": full, "sha": "%040x" % (0xC0FFEE00 + r["next"]), "labels": [],
            "assignees": [], "reviewers": [], "poster": poster, "checks": "pending",
            "mergeable": True, "auto_merge": None, "merge_sha": None,
        }
        self.next_pr_id += 1
        r["next"] += 1
        r["prs"].append(pr)
        return pr


STATE = None


def parse_head(head, owner, name):
    """head as GetPullRequestByBaseHead and parseCompareInfo read it: branch, owner:branch
    or owner/repo:branch -> (head repository "o/r", branch)."""
    if ":" in head:
        who, ref = head.split(":", 1)
        if "/" in who:
            return who, ref
        return "%s/%s" % (who, name), ref
    return "%s/%s" % (owner, name), head


def user_json(base_url, login):
    return {"id": abs(hash(login)) % 100000 + 1, "login": login, "login_name": "",
            "full_name": "", "email": "%s@noreply.example" % login,
            "avatar_url": "%s/avatars/%s" % (base_url, login), "username": login}


def repo_json(base_url, full):
    r = STATE.repo(full)
    owner, name = full.split("/")
    return {
        "id": r["id"], "owner": user_json(base_url, owner), "name": name, "full_name": full,
        "description": "", "empty": False, "private": False, "fork": False,
        "html_url": "%s/%s" % (base_url, full), "url": "%s%s/repos/%s" % (base_url, API, full),
        "clone_url": "%s/%s.git" % (base_url, full), "default_branch": r["default_branch"],
        "archived": False, "has_pull_requests": True,
        "allow_merge_commits": "merge" in r["merge_styles"],
        "allow_rebase": "rebase" in r["merge_styles"],
        "allow_rebase_explicit": "rebase-merge" in r["merge_styles"],
        "allow_squash_merge": "squash" in r["merge_styles"],
        "allow_fast_forward_only_merge": "fast-forward-only" in r["merge_styles"],
        "default_merge_style": r["default_merge_style"],
        "permissions": {"admin": False, "push": True, "pull": True},
    }


def label_json(base_url, full, lab):
    j = {k: lab[k] for k in ("id", "name", "color", "description", "exclusive", "is_archived")}
    j["url"] = "%s%s/repos/%s/labels/%d" % (base_url, API, full, lab["id"])
    return j


def pr_json(base_url, pr, fake=False):
    full = pr["repo"]
    repo_labels, org_labels = STATE.labels_of(full)
    by_id = {lab["id"]: lab for lab in repo_labels + org_labels}
    head_repo = STATE.repo(pr["head_full"])
    j = {
        "id": pr["id"],
        "url": "%s/%s/pulls/%d" % (base_url, full, pr["number"]),
        "number": pr["number"],
        "user": user_json(base_url, pr["poster"]),
        "title": pr["title"],
        "body": pr["body"],
        "labels": [label_json(base_url, full, by_id[i]) for i in pr["labels"] if i in by_id],
        "milestone": None,
        "assignee": user_json(base_url, pr["assignees"][0]) if pr["assignees"] else None,
        "assignees": [user_json(base_url, a) for a in pr["assignees"]] or None,
        "requested_reviewers": [user_json(base_url, a) for a in pr["reviewers"]] or None,
        "requested_reviewers_teams": None,
        "state": pr["state"],
        "draft": is_wip(pr["title"]),
        "is_locked": False,
        "comments": 0,
        "review_comments": 0,
        "additions": 1, "deletions": 1, "changed_files": 1,
        "html_url": "%s/%s/pulls/%d" % (base_url, full, pr["number"]),
        "diff_url": "%s/%s/pulls/%d.diff" % (base_url, full, pr["number"]),
        "patch_url": "%s/%s/pulls/%d.patch" % (base_url, full, pr["number"]),
        "mergeable": pr["mergeable"] and pr["state"] == "open",
        "merged": pr["merged"],
        "merged_at": iso(pr["merged_at"]) if pr["merged_at"] else None,
        "merge_commit_sha": pr["merge_sha"],
        "merged_by": user_json(base_url, STATE.user) if pr["merged"] else None,
        "allow_maintainer_edit": False,
        "base": {"label": pr["base"], "ref": pr["base"], "sha": "%040x" % 0xBA5E,
                 "repo_id": STATE.repo(full)["id"], "repo": repo_json(base_url, full)},
        # services/convert ToAPIPullRequest: label is the head branch's name; ref is that
        # name only while the branch exists, else the pull request's own ref
        "head": {"label": pr["ref"],
                 "ref": "refs/pull/%d/head" % pr["number"] if pr.get("branch_deleted") else pr["ref"],
                 "sha": pr["sha"],
                 "repo_id": head_repo["id"], "repo": repo_json(base_url, pr["head_full"])},
        "merge_base": "%040x" % 0xBA5E,
        "due_date": None,
        "created_at": iso(pr["created"]),
        "updated_at": iso(pr["updated"]),
        "closed_at": iso(pr["closed"]) if pr["closed"] else None,
        "pin_order": 0,
    }
    if fake:
        j["_fake"] = {"auto_merge": pr["auto_merge"], "checks": pr["checks"],
                      "mergeable": pr["mergeable"], "poster": pr["poster"],
                      "head_repo": pr["head_full"]}
    return j


def error_doc(message):
    return {"message": message, "url": SWAGGER}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-gitea/1"

    def log_message(self, fmt, *args):  # quiet
        pass

    # ---- plumbing ---------------------------------------------------------------------

    def base_url(self):
        return "http://" + (self.headers.get("Host") or "127.0.0.1")

    def read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def send(self, status, obj=None, raw=None, headers=None,
             ctype="application/json;charset=utf-8"):
        if raw is None:
            raw = b"" if obj is None else json.dumps(obj).encode()
        elif isinstance(raw, str):
            raw = raw.encode()
        self.send_response(status)
        if raw or status not in (204,):
            self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(raw)))
        self.send_header("Cache-Control", "max-age=0, private, must-revalidate, no-transform")
        for k, v in (headers or {}).items():
            self.send_header(k, str(v))
        self.end_headers()
        self.wfile.write(raw)
        if self.entry is not None:
            self.entry["status"] = status

    def err(self, status, message, headers=None):
        return self.send(status, error_doc(message), headers=headers)

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

    def authenticate(self, q):
        """(state ok|bad|none, form) as Gitea's auth group would judge the request."""
        auth = self.headers.get("Authorization")
        if auth:
            parts = auth.split(" ", 1)
            scheme, cred = parts[0], (parts[1].strip() if len(parts) > 1 else "")
            if scheme == "token" or scheme.lower() == "bearer":
                form = "token" if scheme == "token" else "bearer"
                return ("ok" if cred == STATE.token else "bad"), form
            if scheme.lower() == "basic":
                try:
                    user, _, pw = base64.b64decode(cred, validate=True).decode().partition(":")
                except (ValueError, UnicodeDecodeError):
                    return "bad", "basic"
                # services/auth/basic.go: a password that is empty or x-oauth-basic makes the
                # user name the token; otherwise the password is tried as a token
                tok = user if pw in ("", "x-oauth-basic") else pw
                return ("ok" if tok == STATE.token else "bad"), "basic"
            return "bad", "other"
        tok = q.get("token", q.get("access_token", [None]))[0]
        if tok is not None:
            return ("ok" if tok == STATE.token else "bad"), "query"
        return "none", "none"

    # ---- dispatch -------------------------------------------------------------------------

    def handle_any(self, method):
        self.entry = None
        body = self.read_body()
        url = urlsplit(self.path)
        q = parse_qs(url.query, keep_blank_values=True)
        if url.path == "/_control" and method == "POST":
            return self.control(body)
        if url.path == "/_log" and method == "GET":
            with LOCK:
                return self.send(200, {"requests": list(STATE.log), "mutations": STATE.mutations})
        if url.path == "/_prs" and method == "GET":
            full = q.get("repo", [""])[0]
            with LOCK:
                prs = [pr_json(self.base_url(), p, True) for p in STATE.repo(full)["prs"]]
            return self.send(200, prs)
        if url.path == "/_labels" and method == "GET":
            full = q.get("repo", [""])[0]
            with LOCK:
                rl, ol = STATE.labels_of(full)
                out = {"repo": [label_json(self.base_url(), full, x) for x in rl],
                       "org": [label_json(self.base_url(), full, x) for x in ol]}
            return self.send(200, out)

        state, form = self.authenticate(q)
        self.entry = {
            "method": method, "path": self.path, "host": self.headers.get("Host"),
            "auth": state, "auth_form": form, "t": time.time(), "status": 0,
            "user_agent": self.headers.get("User-Agent"),
            "content_type": self.headers.get("Content-Type"),
            "body": body.decode("utf-8", "replace"),
        }
        with LOCK:
            STATE.log.append(self.entry)
            if method in ("POST", "PATCH", "PUT", "DELETE"):
                STATE.mutations += 1

        if not url.path.startswith(API + "/"):
            return self.err(404, "not found")
        # path segments decoded one by one: a branch name may hold an escaped "/"
        segs = [unquote(s) for s in url.path[len(API) + 1:].split("/")]

        # api.go: the auth middleware runs before every route; reqToken answers 401
        if STATE.unauthorized or state == "bad":
            return self.err(401, "invalid username, password or token")
        if state == "none":
            return self.err(401, "token is required")

        fault = self.take_fault(method, url.path)
        after = None
        if fault:
            kind = fault["kind"]
            if kind == "status":
                st = int(fault.get("status", 500))
                return self.err(st, fault.get("message", "fake-gitea: injected %d" % st))
            if kind == "rate_limit":
                secs = int(fault.get("seconds", 1))
                return self.err(429, "rate limit exceeded", headers={
                    "Retry-After": secs, "X-RateLimit-Limit": 60, "X-RateLimit-Remaining": 0,
                    "X-RateLimit-Reset": int(time.time()) + secs})
            if kind == "retry_after":
                st = int(fault.get("status", 429))
                return self.send(st, raw="Too Many Requests\n", ctype="text/plain; charset=utf-8",
                                 headers={"Retry-After": int(fault.get("seconds", 1))})
            if kind == "body":
                return self.send(int(fault.get("status", 200)), raw=fault.get("body", ""),
                                 headers=fault.get("headers", {}),
                                 ctype=fault.get("content_type", "application/json;charset=utf-8"))
            if kind == "redirect":
                loc = fault["location"].replace("{base}", self.base_url()).replace("{path}", self.path)
                return self.send(int(fault.get("status", 301)), raw="", headers={"Location": loc})
            if kind == "delay":
                time.sleep(float(fault.get("seconds", 1)))
            if kind == "echo_auth":
                cred = self.headers.get("Authorization") or ""
                text = "." * int(fault.get("pad", 0)) + "token %s is not allowed here" % echo_forms(
                    cred, fault.get("form", "raw"), STATE.user)
                st = int(fault.get("status", 403))
                if fault.get("html"):
                    return self.send(st, raw=("<html>%s</html>\n" % text).encode(), ctype="text/html")
                return self.err(st, text)
            if kind == "create_then_fail":
                after = int(fault.get("status", 502))

        if segs == ["version"] and method == "GET":
            return self.send(200, {"version": STATE.version})
        if segs == ["user"] and method == "GET":
            return self.send(200, user_json(self.base_url(), STATE.user))
        if len(segs) == 3 and segs[0] == "orgs" and segs[2] == "labels" and method == "GET":
            with LOCK:
                if segs[1] not in STATE.orgs:
                    return self.err(404, "not found")
                labs = [label_json(self.base_url(), "%s/-" % segs[1], x)
                        for x in STATE.orgs[segs[1]]["labels"]]
            return self.paged(labs, q, url)
        if len(segs) < 3 or segs[0] != "repos" or not segs[1] or not segs[2]:
            return self.err(404, "not found")

        full = "%s/%s" % (segs[1], segs[2])
        rest = segs[3:]
        with LOCK:
            moved = STATE.renamed.get(full)
        if moved:
            # services/context/repo.go RedirectToRepo: the old owner/name replaced in the
            # escaped path, query kept, Location relative to the server
            to, st, absolute = moved
            raw_rest = url.path[len(API) + 1:].split("/", 3)
            loc = "%s/repos/%s%s" % (API, to, ("/" + raw_rest[3]) if len(raw_rest) > 3 else "")
            if url.query:
                loc += "?" + url.query
            if absolute:
                loc = self.base_url() + loc
            return self.send(st, raw="<a href=\"%s\">Temporary Redirect</a>.\n\n" % loc,
                             ctype="text/html; charset=utf-8", headers={"Location": loc})
        with LOCK:
            write_only = STATE.forbidden.get(full)
        if write_only is not None and (not write_only or method != "GET"):
            return self.err(403, "user should have a permission to write to a repo")

        if not rest and method == "GET":
            with LOCK:
                return self.send(200, repo_json(self.base_url(), full))
        if rest == ["labels"] and method == "GET":
            with LOCK:
                labs = [label_json(self.base_url(), full, x) for x in STATE.repo(full)["labels"]]
            return self.paged(labs, q, url)
        if rest == ["pulls"] and method == "GET":
            return self.list_pulls(full, q, url)
        if rest == ["pulls"] and method == "POST":
            return self.create_pull(full, body, after)
        if len(rest) >= 2 and rest[0] == "pulls" and rest[1].isdigit():
            number = int(rest[1])
            if len(rest) == 2 and method == "GET":
                return self.get_pull(full, number)
            if len(rest) == 2 and method == "PATCH":
                return self.update_pull(full, number, body, after)
            if rest[2:] == ["merge"] and method == "POST":
                return self.merge_pull(full, number, body, after)
            if rest[2:] == ["merge"] and method == "GET":
                with LOCK:
                    p = self.find(full, number)
                    merged = bool(p and p["merged"])
                return self.send(204) if merged else self.err(404, "not found")
            if rest[2:] == ["requested_reviewers"] and method == "POST":
                return self.request_reviewers(full, number, body, after)
        if len(rest) == 3 and rest[0] == "issues" and rest[1].isdigit() and rest[2] == "labels" \
                and method == "POST":
            return self.add_labels(full, int(rest[1]), body, after)
        if len(rest) >= 3 and rest[0] == "pulls" and method == "GET":
            return self.get_by_base_head(full, rest[1], "/".join(rest[2:]))
        return self.err(404, "not found")

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

    def page_params(self, q):
        """utils.GetListOptions: page >= 1; limit <= 0 -> DEFAULT_PAGING_NUM, capped at
        MAX_RESPONSE_ITEMS (convert.ToCorrectPageSize)."""
        try:
            page = max(int(q.get("page", ["1"])[0] or 1), 1)
            limit = int(q.get("limit", ["0"])[0] or 0)
        except ValueError:
            return None, None
        if limit <= 0:
            limit = STATE.default_paging
        return page, min(limit, STATE.max_items)

    def paged(self, items, q, url, status=200):
        page, limit = self.page_params(q)
        if page is None:
            return self.err(422, "[page]: must be an integer")
        total = len(items)
        pages = max((total + limit - 1) // limit, 1)
        chunk = items[(page - 1) * limit: page * limit]
        headers = {"X-Total-Count": total,
                   "Access-Control-Expose-Headers": "Link, X-Total-Count"}
        links = []

        # services/context/api.go genAPILinks: next, last, first, prev; absolute URLs
        # (AppURL + the request URI with page replaced), joined by "," without a space
        def link(n, rel):
            params = [(k, v) for k, vs in q.items() if k != "page" for v in vs] + [("page", n)]
            return '<%s%s?%s>; rel="%s"' % (self.base_url(), url.path, urlencode(params), rel)
        if page < pages:
            links.append(link(page + 1, "next"))
            links.append(link(pages, "last"))
        if page > 1:
            links.append(link(1, "first"))
            links.append(link(page - 1, "prev"))
        if links:
            headers["Link"] = ",".join(links)
        return self.send(status, chunk, headers=headers)

    # ---- the pull-request endpoints -------------------------------------------------------

    def list_pulls(self, full, q, url):
        state = q.get("state", ["open"])[0] or "open"
        base = q.get("base_branch", [""])[0]
        sort = q.get("sort", [""])[0]
        with LOCK:
            prs = list(STATE.repo(full)["prs"])
        if state in ("open", "closed"):
            prs = [p for p in prs if p["state"] == state]
        if base:
            prs = [p for p in prs if p["base"] == base]
        # models/issues pull_list.go: newest first unless sort says otherwise
        if sort == "oldest":
            prs.sort(key=lambda p: p["number"])
        elif sort in ("recentupdate", "leastupdate"):
            prs.sort(key=lambda p: (p["updated"], p["number"]), reverse=(sort == "recentupdate"))
        else:
            prs.sort(key=lambda p: p["number"], reverse=True)
        with LOCK:
            items = [pr_json(self.base_url(), p) for p in prs]
        return self.paged(items, q, url)

    def parse_json_body(self, body):
        try:
            j = json.loads(body or b"null")
        except ValueError:
            self.err(422, "[]: Unmarshal: invalid JSON")
            return None
        if not isinstance(j, dict):
            self.err(422, "[]: Unmarshal: want a JSON object")
            return None
        return j

    def unknown_users(self, names):
        return [n for n in names if n not in STATE.users]

    def label_ids(self, full, ids):
        """GetLabelsInRepoByIDs + GetLabelsInOrgByIDs: IDs of neither are dropped silently."""
        rl, ol = STATE.labels_of(full)
        known = {x["id"] for x in rl} | {x["id"] for x in ol}
        return [i for i in ids if i in known]

    def create_pull(self, full, body, after):
        j = self.parse_json_body(body)
        if j is None:
            return
        for k in ("head", "base", "title"):
            if not isinstance(j.get(k), str) or not j[k]:
                # binding:"Required" on CreatePullRequestOption
                return self.err(422, "[%s]: Required" % k.capitalize())
        if "body" in j and j["body"] is not None and not isinstance(j["body"], str):
            return self.err(422, "[]: Unmarshal: body: want a string")
        if len(j["title"]) > 255:  # binding:"Required;MaxSize(255)", in characters
            return self.err(422, "[Title]: MaxSize")
        for k in ("assignees", "reviewers", "team_reviewers", "labels"):
            if k in j and j[k] is not None and not isinstance(j[k], list):
                return self.err(422, "[]: Unmarshal: %s: want an array" % k)
        if any(not isinstance(i, int) or isinstance(i, bool) for i in (j.get("labels") or [])):
            return self.err(422, "[]: Unmarshal: labels: want integer label IDs")
        if j["head"] == j["base"]:
            return self.err(422, "Invalid PullRequest: There are no changes between the head and the base")
        owner, name = full.split("/")
        head_full, ref = parse_head(j["head"], owner, name)
        with LOCK:
            # issues_model.GetUnmergedPullRequest: an open, unmerged PR for head -> base
            for p in STATE.repo(full)["prs"]:
                if p["state"] == "open" and not p["merged"] and p["head_full"] == head_full \
                        and p["ref"] == ref and p["base"] == j["base"]:
                    return self.err(409, "pull request already exists for these targets [id: %d, "
                                    "issue_id: %d, head_repo_id: %d, base_repo_id: %d, "
                                    "head_branch: %s, base_branch: %s]" % (
                                        p["id"], p["number"], STATE.repo(head_full)["id"],
                                        STATE.repo(full)["id"], p["ref"], p["base"]))
            assignees = list(j.get("assignees") or [])
            if j.get("assignee"):
                assignees.insert(0, j["assignee"])
            bad = self.unknown_users(assignees)
            if bad:
                return self.err(422, "Assignee does not exist: [name: %s]" % bad[0])
            bad = self.unknown_users(j.get("reviewers") or [])
            if bad:
                return self.err(422, "user does not exist [uid: 0, name: %s]" % bad[0])
            pr = STATE.new_pr(full, j["head"], j["base"], j["title"], j.get("body") or "",
                              STATE.user)
            pr["labels"] = self.label_ids(full, j.get("labels") or [])
            pr["assignees"] = list(dict.fromkeys(assignees))
            pr["reviewers"] = list(dict.fromkeys(j.get("reviewers") or []))
            out = pr_json(self.base_url(), pr)
        if after:
            return self.err(after, "fake-gitea: injected %d after the change" % after)
        return self.send(201, out)

    def find(self, full, number):
        for p in STATE.repo(full)["prs"]:
            if p["number"] == number:
                return p
        return None

    def get_pull(self, full, number):
        with LOCK:
            p = self.find(full, number)
            out = pr_json(self.base_url(), p) if p else None
        if not out:
            return self.err(404, "not found")
        return self.send(200, out)

    def get_by_base_head(self, full, base, head):
        with LOCK:
            if version_tuple(STATE.version) < (1, 22, 0):
                # the route does not exist before go-gitea/gitea#29242 (Gitea 1.22)
                return self.err(404, "not found")
            owner, name = full.split("/")
            head_full, ref = parse_head(head, owner, name)
            # models/issues GetPullRequestByBaseHeadInfo: the first row for (base, head) in
            # any state, no ORDER BY -- in practice the oldest, which may be closed while a
            # newer one is open: a client must check the state
            match = [p for p in STATE.repo(full)["prs"]
                     if p["base"] == base and p["head_full"] == head_full and p["ref"] == ref]
            out = pr_json(self.base_url(), min(match, key=lambda p: p["number"])) if match else None
        if not out:
            return self.err(404, "not found")
        return self.send(200, out)

    def update_pull(self, full, number, body, after):
        j = self.parse_json_body(body)
        if j is None:
            return
        with LOCK:
            p = self.find(full, number)
            if not p:
                return self.err(404, "not found")
            for k in ("title", "body", "base", "state"):
                if k in j and j[k] is not None and not isinstance(j[k], str):
                    return self.err(422, "[]: Unmarshal: %s: want a string" % k)
            if "labels" in j and j["labels"] is not None and (
                    not isinstance(j["labels"], list)
                    or any(not isinstance(i, int) or isinstance(i, bool) for i in j["labels"])):
                return self.err(422, "[]: Unmarshal: labels: want integer label IDs")
            if j.get("assignees") is not None:
                bad = self.unknown_users(j["assignees"])
                if bad:
                    return self.err(422, "Assignee does not exist: [name: %s]" % bad[0])
            if isinstance(j.get("title"), str) and len(j["title"]) > 255:
                return self.err(422, "[Title]: MaxSize")
            if j.get("state") is not None and p["merged"]:
                return self.err(412, "cannot change state of this pull request, it was already merged")
            if j.get("title"):
                p["title"] = j["title"]
            if j.get("body") is not None:
                p["body"] = j["body"]
            if j.get("assignees") is not None:
                p["assignees"] = list(dict.fromkeys(j["assignees"]))
            if j.get("labels") is not None:
                p["labels"] = self.label_ids(full, j["labels"])
            if j.get("state") in ("open", "closed"):
                p["state"] = j["state"]
                p["closed"] = time.time() if j["state"] == "closed" else None
            if j.get("base") and not p["merged"]:
                p["base"] = j["base"]
            p["updated"] = time.time()
            out = pr_json(self.base_url(), p)
        if after:
            return self.err(after, "fake-gitea: injected %d after the change" % after)
        # EditPullRequest: "TODO this should be 200, not 201"
        return self.send(201, out)

    def add_labels(self, full, number, body, after):
        """routers/api/v1/repo/issue_label.go AddIssueLabels (sdk issue_label.go): the labels
        (IDs; unknown ones dropped) added to those the issue has; 200 with all of them."""
        j = self.parse_json_body(body)
        if j is None:
            return
        ids = j.get("labels")
        if not isinstance(ids, list) or any(not isinstance(i, int) or isinstance(i, bool)
                                            for i in ids):
            return self.err(422, "[]: Unmarshal: labels: want integer label IDs")
        with LOCK:
            p = self.find(full, number)
            if not p:
                return self.err(404, "not found")
            for i in self.label_ids(full, ids):
                if i not in p["labels"]:
                    p["labels"].append(i)
            p["updated"] = time.time()
            out = pr_json(self.base_url(), p)["labels"]
        if after:
            return self.err(after, "fake-gitea: injected %d after the change" % after)
        return self.send(200, out)

    def request_reviewers(self, full, number, body, after):
        j = self.parse_json_body(body)
        if j is None:
            return
        names = j.get("reviewers") or []
        if not isinstance(names, list):
            return self.err(422, "[]: Unmarshal: reviewers: want an array")
        with LOCK:
            p = self.find(full, number)
            if not p:
                return self.err(404, "not found")
            bad = self.unknown_users(names)
            if bad:
                return self.err(422, "user does not exist [uid: 0, name: %s]" % bad[0])
            for n in names:
                if n not in p["reviewers"]:
                    p["reviewers"].append(n)
            p["updated"] = time.time()
            out = [{"id": i + 1, "user": user_json(self.base_url(), n), "state": "REQUEST_REVIEW",
                    "pull_request_url": "%s/%s/pulls/%d" % (self.base_url(), full, number)}
                   for i, n in enumerate(names)]
        if after:
            return self.err(after, "fake-gitea: injected %d after the change" % after)
        return self.send(201, out)

    def merge_pull(self, full, number, body, after):
        j = self.parse_json_body(body)
        if j is None:
            return
        do = j.get("Do")
        if do not in MERGE_STYLES:
            # forms.MergePullRequestForm: binding:"Required;In(merge,rebase,...)"
            return self.err(422, "[Do]: %s" % ("Required" if not do else "In"))
        with LOCK:
            p = self.find(full, number)
            if not p:
                return self.err(404, "not found")
            # pull_service.CheckPullMergeable, in its order
            if p["merged"]:
                return self.err(405, "")
            if p["state"] == "closed":
                return self.err(404, "not found")
            if is_wip(p["title"]):
                return self.err(405, "Work in progress PRs cannot be merged")
            if not p["mergeable"]:
                return self.err(405, "Please try again later")
            if do != "manually-merged" and do not in STATE.repo(full)["merge_styles"]:
                # pull_service: ErrInvalidMergeStyle
                return self.err(405, "%s is not allowed an allowed merge style for this "
                                "repository" % do)
            head = j.get("head_commit_id") or ""
            if j.get("merge_when_checks_succeed"):
                if p["auto_merge"]:
                    return self.err(409, "pull request is already scheduled to auto merge when "
                                    "checks succeed [pull_id: %d]" % p["id"])
                if p["checks"] != "success":
                    # automerge.ScheduleAutoMerge: scheduled -> 201, nothing more
                    p["auto_merge"] = {"Do": do, "head_commit_id": head,
                                       "delete_branch_after_merge":
                                           bool(j.get("delete_branch_after_merge")),
                                       "merge_message": j.get("MergeTitleField") or ""}
                    p["updated"] = time.time()
                    status = 201
                else:
                    status = 200
            else:
                if p["checks"] != "success":
                    return self.err(405, "Not all required status checks successful")
                status = 200
            if status == 200:
                if head and head != p["sha"]:
                    return self.err(409, "head out of date")
                now = time.time()
                p.update(state="closed", merged=True, merged_at=now, closed=now, updated=now,
                         merge_sha="%040x" % (0xAE5E0000 + p["number"]))
        if after:
            return self.err(after, "fake-gitea: injected %d after the change" % after)
        return self.send(status)

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
            if action == "reset_faults":
                STATE.faults = []
                return self.send(200, {"ok": True})
            if action == "unauthorized":
                STATE.unauthorized = bool(j.get("value", True))
                return self.send(200, {"ok": True})
            if action == "forbidden":
                STATE.forbidden[j["repo"]] = bool(j.get("write_only", False))
                return self.send(200, {"ok": True})
            if action == "version":
                STATE.version = str(j["version"])
                return self.send(200, {"ok": True})
            if action == "timezone":
                STATE.tz_minutes = int(j["minutes"])
                return self.send(200, {"ok": True})
            if action == "max_items":
                STATE.max_items = max(int(j["value"]), 1)
                STATE.default_paging = min(STATE.default_paging, STATE.max_items)
                return self.send(200, {"ok": True})
            if action == "users":
                STATE.users.update(j.get("names", []))
                return self.send(200, {"ok": True})
            if action == "repo":
                r = STATE.repo(j["repo"])
                owner = j["repo"].split("/")[0]
                if "default_branch" in j:
                    r["default_branch"] = j["default_branch"]
                if "merge_styles" in j:
                    r["merge_styles"] = list(j["merge_styles"])
                if "default_merge_style" in j:
                    r["default_merge_style"] = j["default_merge_style"]
                if j.get("org") or j.get("org_labels"):
                    STATE.orgs.setdefault(owner, {"labels": []})
                for n in j.get("labels", []):
                    r["labels"].append(STATE.label(n))
                for n in j.get("org_labels", []):
                    STATE.orgs[owner]["labels"].append(STATE.label(n, org=True))
                rl, ol = STATE.labels_of(j["repo"])
                return self.send(200, {"labels": rl, "org_labels": ol})
            if action == "rename":
                old, new = j["repo"], j["to"]
                STATE.repo(old)
                r = STATE.repos.pop(old)
                STATE.repos[new] = r
                for p in r["prs"]:
                    p["repo"] = new
                    if p["head_full"] == old:
                        p["head_full"] = new
                STATE.renamed[old] = (new, int(j.get("status", 307)), bool(j.get("absolute")))
                return self.send(200, {"ok": True})
            if action == "fault":
                f = dict(j)
                del f["action"]
                f.setdefault("count", 1)
                STATE.faults.append(f)
                return self.send(200, {"ok": True})
            if action == "create_pr":
                pr = STATE.new_pr(j["repo"], j["head"], j.get("base", "main"),
                                  j.get("title", "a human's pull request"), j.get("body", ""),
                                  j.get("user", "human"))
                rl, ol = STATE.labels_of(j["repo"])
                names = {x["name"]: x["id"] for x in rl + ol}
                pr["labels"] = [names[n] for n in j.get("labels", []) if n in names]
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
        if j.get("action") == "set_pr":
            for k in ("title", "body"):
                if k in j:
                    p[k] = j[k]
        if "checks" in j:
            p["checks"] = j["checks"]
        if "mergeable" in j:
            p["mergeable"] = bool(j["mergeable"])
        if "branch_deleted" in j:
            p["branch_deleted"] = bool(j["branch_deleted"])
        if j.get("merged"):
            p.update(state="closed", merged=True, merged_at=now, closed=now,
                     merge_sha="%040x" % (0xAE5E0000 + p["number"]))
        elif j.get("state") == "closed":
            p["state"], p["closed"] = "closed", now
        elif j.get("state") == "open" and not p["merged"]:
            p["state"], p["closed"] = "open", None
        # an auto-merge scheduled earlier fires when the checks succeed (automerge service)
        if p["auto_merge"] and p["checks"] == "success" and p["state"] == "open":
            p.update(state="closed", merged=True, merged_at=now, closed=now,
                     merge_sha="%040x" % (0xAE5E0000 + p["number"]))
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
    ap.add_argument("--token", default=os.environ.get("FAKE_GITEA_TOKEN"))
    ap.add_argument("--user", default="cpgo")
    ap.add_argument("--lifetime", type=float, default=300.0)
    ap.add_argument("--tz-minutes", type=int, default=120,
                    help="the server's UTC offset in its JSON times (default +02:00)")
    a = ap.parse_args()
    if not a.token:
        sys.exit("fake_gitea.py: no token ($FAKE_GITEA_TOKEN or --token)")
    STATE = State(a.token, a.user, a.tz_minutes)
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
