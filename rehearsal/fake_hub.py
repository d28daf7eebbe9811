"""A local stand-in for the Hugging Face hub's HTTP API, serving repositories from a folder.

With ``HF_ENDPOINT`` pointed at it (and no ``HF_HUB_OFFLINE``), huggingface_hub and
datasets take their online code paths and fill ``HF_HOME`` exactly as they would from
huggingface.co: the cache is written by the libraries themselves, never by hand.

Layout served: ``<root>/<models|datasets>/<org>/<name>/...`` holds each repository's
files at its only revision. Its commit id is a digest of its files (a changed file
gives a new commit, as a push would); ``main`` resolves to it. What the hub does and
this does not: no git history, no other branches or tags, no ``refs/convert/parquet``
(the dataset viewer's export: datasets falls back to the repository's own files, as
it does for any repository the viewer has not converted), no Xet storage, no LFS
redirect to a CDN (files are served directly, with the hub's ``X-Linked-*`` headers).

Endpoints (huggingface_hub 2.x / datasets 5.x use these for downloads and listings):
``HEAD|GET /[datasets/]ORG/NAME/resolve/REV/PATH``, ``GET /api/TYPE/ORG/NAME[/revision/REV]``,
``GET /api/TYPE/ORG/NAME/tree/REV[/PATH]``, ``POST /api/TYPE/ORG/NAME/paths-info/REV``.
Every request is recorded in ``FakeHub.requests`` (method, path, status).
"""
from __future__ import annotations

import functools
import hashlib
import json
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

REPO_TYPES = {"models": "model", "datasets": "dataset"}
LFS_SUFFIXES = (".parquet", ".arrow", ".safetensors", ".bin", ".gguf", ".pt", ".model", ".zip", ".gz")


def git_blob_id(content: bytes) -> str:
    """The git object id of a file (what the hub reports as a non-LFS file's oid and ETag)."""
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()


class Repo:
    """One repository's files (read once) and ids."""

    def __init__(self, folder: Path, repo_id: str):
        self.folder, self.repo_id = folder, repo_id
        self.files: dict[str, bytes] = {
            path.relative_to(folder).as_posix(): path.read_bytes()
            for path in sorted(folder.rglob("*")) if path.is_file()
        }
        digest = hashlib.sha1()
        for name, content in self.files.items():
            digest.update(name.encode() + b"\0" + hashlib.sha256(content).digest())
        self.sha = digest.hexdigest()

    def is_lfs(self, path: str) -> bool:
        return path.endswith(LFS_SUFFIXES)

    def entry(self, path: str) -> dict:
        """A tree / paths-info entry, as the hub's API returns it."""
        if path in self.files:
            content = self.files[path]
            entry = {"type": "file", "oid": git_blob_id(content), "size": len(content), "path": path}
            if self.is_lfs(path):
                entry["lfs"] = {"oid": hashlib.sha256(content).hexdigest(), "size": len(content), "pointerSize": 134}
            return entry
        return {"type": "directory", "oid": hashlib.sha1(path.encode()).hexdigest(), "path": path}

    def folders(self) -> set[str]:
        out = set()
        for name in self.files:
            parts = name.split("/")[:-1]
            out.update("/".join(parts[: i + 1]) for i in range(len(parts)))
        return out

    def children(self, folder: str, recursive: bool) -> list[str]:
        prefix = f"{folder}/" if folder else ""
        names = [n for n in sorted(set(self.files) | self.folders()) if n.startswith(prefix)]
        if not recursive:
            names = [n for n in names if "/" not in n[len(prefix):]]
        return names


class FakeHub:
    """``with FakeHub(root) as hub:`` serves ``root`` at ``hub.endpoint`` (127.0.0.1, a free port)."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.requests: list[tuple[str, str, int]] = []
        self._server: ThreadingHTTPServer | None = None

    @functools.lru_cache(maxsize=None)
    def repo(self, repo_type: str, repo_id: str) -> Repo | None:
        folder = self.root / repo_type / repo_id
        return Repo(folder, repo_id) if folder.is_dir() and repo_id.count("/") == 1 else None

    # -------------------------------------------------------------- server
    def __enter__(self) -> "FakeHub":
        hub = self

        class Handler(_Handler):
            pass

        Handler.hub = hub
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def endpoint(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"


class _Handler(BaseHTTPRequestHandler):
    hub: FakeHub
    protocol_version = "HTTP/1.1"  # keep-alive, as httpx expects from the hub

    def log_message(self, *args) -> None:  # quiet; FakeHub.requests records every request
        pass

    # -------------------------------------------------------------- replies
    def _send(self, status: int, body: bytes = b"", headers: dict | None = None, head: bool = False) -> None:
        self.hub.requests.append((self.command, self.path, status))
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, str(value))
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def _json(self, value, status: int = 200, headers: dict | None = None) -> None:
        self._send(status, json.dumps(value).encode(), {"Content-Type": "application/json", **(headers or {})})

    def _error(self, status: int, code: str, message: str, head: bool = False) -> None:
        # huggingface_hub's hf_raise_for_status reads X-Error-Code to raise RepositoryNotFoundError,
        # RevisionNotFoundError or EntryNotFoundError; the hub answers 401 for unknown repositories
        self._send(status, json.dumps({"error": message}).encode(),
                   {"X-Error-Code": code, "X-Error-Message": message, "Content-Type": "application/json"}, head)

    # -------------------------------------------------------------- routing
    def do_HEAD(self) -> None:
        self._route(head=True)

    def do_GET(self) -> None:
        self._route(head=False)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode()
        form = urllib.parse.parse_qs(body)
        parts = self._parts()
        if len(parts) >= 6 and parts[0] == "api" and parts[4] == "paths-info":
            repo = self._repo(parts[1], "/".join(parts[2:4]), head=False)
            if repo is None or not self._revision_ok(repo, urllib.parse.unquote(parts[5])):
                return
            known = set(repo.files) | repo.folders()
            self._json([repo.entry(p.strip("/")) for p in form.get("paths", []) if p.strip("/") in known])
            return
        self._error(404, "EntryNotFound", f"no route for POST {self.path}")

    def _parts(self) -> list[str]:
        path = urllib.parse.urlsplit(self.path).path
        return [urllib.parse.unquote(p) for p in path.strip("/").split("/")] if path.strip("/") else []

    def _repo(self, type_plural: str, repo_id: str, head: bool) -> Repo | None:
        repo = self.hub.repo(type_plural, repo_id) if type_plural in REPO_TYPES else None
        if repo is None:
            self._error(401, "RepoNotFound", f"Repository Not Found for url: {self.path}.", head)
        return repo

    def _revision_ok(self, repo: Repo, revision: str, head: bool = False) -> bool:
        if revision in ("main", repo.sha):
            return True
        self._error(404, "RevisionNotFound", f"Invalid rev id: {revision}", head)
        return False

    def _route(self, head: bool) -> None:
        raw_parts = urllib.parse.urlsplit(self.path).path.strip("/").split("/")
        parts = self._parts()
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
        # /datasets/ORG/NAME/resolve/REV/PATH  and  /ORG/NAME/resolve/REV/PATH (models)
        if len(parts) >= 5 and "resolve" in parts[2:4]:
            type_plural = "datasets" if parts[0] == "datasets" else "models"
            offset = 1 if parts[0] == "datasets" else 0
            if parts[offset + 2] == "resolve":
                repo = self._repo(type_plural, "/".join(parts[offset:offset + 2]), head)
                # the revision is one URL-quoted segment (refs%2Fpr%2F1); the file path follows
                revision = urllib.parse.unquote(raw_parts[offset + 3])
                if repo is None or not self._revision_ok(repo, revision, head):
                    return
                self._resolve(repo, "/".join(parts[offset + 4:]), head)
                return
        if len(parts) >= 4 and parts[0] == "api" and parts[1] in REPO_TYPES:
            repo = self._repo(parts[1], "/".join(parts[2:4]), head)
            if repo is None:
                return
            rest = parts[4:]
            if not rest or rest[0] == "revision":
                if rest and not self._revision_ok(repo, urllib.parse.unquote(raw_parts[5]), head):
                    return
                self._json(self._info(repo))
                return
            if rest[0] == "tree" and len(rest) >= 2:
                if not self._revision_ok(repo, urllib.parse.unquote(raw_parts[5]), head):
                    return
                folder = "/".join(rest[2:])
                if folder and folder not in repo.folders():
                    self._error(404, "EntryNotFound", f"{folder} does not exist on {repo.sha}", head)
                    return
                recursive = query.get("recursive", ["false"])[0].lower() in ("1", "true")
                self._json([repo.entry(name) for name in repo.children(folder, recursive)])
                return
        self._error(404, "EntryNotFound", f"no route for {self.command} {self.path}", head)

    def _info(self, repo: Repo) -> dict:
        author = repo.repo_id.split("/")[0]
        return {
            "_id": repo.sha[:24], "id": repo.repo_id, "author": author, "sha": repo.sha,
            "lastModified": "2026-01-01T00:00:00.000Z", "private": False, "gated": False, "disabled": False,
            "downloads": 0, "likes": 0, "tags": [],
            "siblings": [{"rfilename": name} for name in repo.files],
        }

    def _resolve(self, repo: Repo, path: str, head: bool) -> None:
        if path not in repo.files:
            self._error(404, "EntryNotFound", f"Entry not found: {path}", head)
            return
        content = repo.files[path]
        headers = {"X-Repo-Commit": repo.sha, "Content-Type": "application/octet-stream", "Accept-Ranges": "bytes"}
        if repo.is_lfs(path):  # the hub names an LFS file by its sha256 (the blob name in the cache)
            headers |= {"X-Linked-Etag": f'"{hashlib.sha256(content).hexdigest()}"', "X-Linked-Size": len(content),
                        "ETag": f'"{hashlib.sha256(content).hexdigest()}"'}
        else:
            headers["ETag"] = f'"{git_blob_id(content)}"'
        span = self.headers.get("Range")
        if span and span.startswith("bytes=") and not head:
            start, _, end = span[len("bytes="):].partition("-")
            start, end = int(start or 0), int(end) if end else len(content) - 1
            headers["Content-Range"] = f"bytes {start}-{end}/{len(content)}"
            self._send(206, content[start:end + 1], headers)
            return
        if head:
            self.hub.requests.append((self.command, self.path, 200))
            self.send_response(200)
            for key, value in headers.items():
                self.send_header(key, str(value))
            self.send_header("Content-Length", str(len(content)))
            self.end_headers()
            return
        self._send(200, content, headers)
