"""A Hugging Face Hub on 127.0.0.1 (aiohttp) for push tests: exactly the endpoints
huggingface_hub 2.x calls to create a repo and upload a folder (repo create and info, README
metadata check, preupload, the LFS batch / upload / verify, the NDJSON commit). It checks the
bearer token and what each token may write, and keeps every file it received per repo.

The `fake_hub` fixture lets huggingface_hub talk to it despite HF_HUB_OFFLINE (read once, when
huggingface_hub is imported) and turns Xet off, so LFS files travel over the plain LFS protocol
this server speaks; a test may turn Xet back on when every file goes inline (lfs_suffixes=())."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web

WRITE_TOKEN = "hf_fakeWriteTokenAlice0123456789abcdef"
READ_TOKEN = "hf_fakeReadTokenAlice0123456789abcdef"
USER = "alice"
ORG = "alice-lab"


@dataclass(frozen=True)
class FakeToken:
    """Who a token belongs to and whether it may write."""

    user: str
    write: bool = True
    orgs: tuple[str, ...] = ()

    def may_write(self, namespace: str) -> bool:
        return self.write and namespace in (self.user, *self.orgs)


@dataclass
class FakeRepo:
    """One model repo: visibility, files by path, and each commit's header."""

    repo_id: str
    private: bool
    owner: str
    files: dict[str, bytes] = field(default_factory=dict)
    commits: list[dict[str, Any]] = field(default_factory=list)
    sha: str = "0" * 40


@dataclass
class FakeHub:
    """The server's state; `url` once started."""

    tokens: dict[str, FakeToken] = field(
        default_factory=lambda: {
            WRITE_TOKEN: FakeToken(USER, write=True, orgs=(ORG,)),
            READ_TOKEN: FakeToken(USER, write=False),
        }
    )
    # Files the preupload answer sends through LFS (the Hub decides by its .gitattributes).
    lfs_suffixes: tuple[str, ...] = (".safetensors", ".png", ".bin")
    repos: dict[str, FakeRepo] = field(default_factory=dict)
    lfs_objects: dict[str, bytes] = field(default_factory=dict)
    # (method, path) of every request, in order.
    requests: list[tuple[str, str]] = field(default_factory=list)
    # Every Authorization header received (to check how the token travelled).
    auth_headers: list[str] = field(default_factory=list)
    url: str = ""
    _tickets: dict[str, str] = field(default_factory=dict)
    _runner: web.AppRunner | None = None

    # What tests use through the fixture (importing them would stop pytest rewriting this
    # plugin's asserts when a test module registers it).
    user: str = USER
    org: str = ORG
    write_token: str = WRITE_TOKEN
    read_token: str = READ_TOKEN

    def add_repo(self, repo_id: str, *, private: bool) -> FakeRepo:
        """A repo that exists before the test pushes, owned by its namespace."""
        repo = FakeRepo(repo_id, private=private, owner=repo_id.split("/", 1)[0])
        self.repos[repo_id] = repo
        return repo

    async def start(self) -> None:
        app = web.Application(client_max_size=256 * 1024**2, middlewares=[self._record])
        r = app.router
        r.add_post("/api/repos/create", self._create)
        r.add_get("/api/models/{ns}/{name}", self._info)
        r.add_get("/api/models/{ns}/{name}/revision/{rev}", self._info)
        r.add_post("/api/validate-yaml", self._validate_yaml)
        r.add_post("/api/models/{ns}/{name}/preupload/{rev}", self._preupload)
        r.add_post("/api/models/{ns}/{name}/commit/{rev}", self._commit)
        r.add_post(r"/{ns}/{git:[^/]+\.git}/info/lfs/objects/batch", self._lfs_batch)
        r.add_post(r"/{ns}/{git:[^/]+\.git}/info/lfs/objects/verify", self._lfs_verify)
        r.add_put("/_lfs_upload/{ticket}", self._lfs_put)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    # -- helpers ------------------------------------------------------------------------

    @web.middleware
    async def _record(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self.requests.append((request.method, request.path))
        auth = request.headers.get("Authorization")
        if auth:
            self.auth_headers.append(auth)
        response: web.StreamResponse = await handler(request)
        return response

    def _caller(self, request: web.Request) -> FakeToken | None | web.Response:
        """The token's owner; None when no token was sent; a 401 reply for a bad one."""
        auth = request.headers.get("Authorization", "")
        if not auth:
            return None
        token = auth.removeprefix("Bearer ").strip()
        found = self.tokens.get(token)
        if found is None:
            return _error(401, "Invalid credentials in Authorization header", message_header=True)
        return found

    def _writer(self, request: web.Request, namespace: str) -> FakeToken | web.Response:
        caller = self._caller(request)
        if isinstance(caller, web.Response):
            return caller
        if caller is None:
            return _error(401, "You must be authenticated to do this")
        if not caller.may_write(namespace):
            return _error(
                403, f'You don\'t have the rights to write under the namespace "{namespace}"'
            )
        return caller

    def _repo(self, request: web.Request) -> FakeRepo | None:
        return self.repos.get(f"{request.match_info['ns']}/{request.match_info['name']}")

    def _git_repo(self, request: web.Request) -> tuple[str, FakeRepo | None]:
        repo_id = f"{request.match_info['ns']}/{request.match_info['git'].removesuffix('.git')}"
        return repo_id, self.repos.get(repo_id)

    # -- endpoints ----------------------------------------------------------------------

    async def _create(self, request: web.Request) -> web.Response:
        body = await request.json()
        namespace = body.get("organization")
        caller = self._caller(request)
        if isinstance(caller, web.Response):
            return caller
        if caller is None:
            return _error(401, "You must be authenticated to create a repo")
        namespace = namespace or caller.user
        if body.get("type", "model") != "model":
            return _error(400, "Only model repos here")
        if not caller.may_write(namespace):
            return _error(
                403,
                f'You don\'t have the rights to create a model under the namespace "{namespace}"',
            )
        repo_id = f"{namespace}/{body['name']}"
        url = f"{self.url}/{repo_id}"
        if repo_id in self.repos:
            return web.json_response(
                {"error": "You already created this model repo", "url": url}, status=409
            )
        visibility = body.get("visibility")
        private = visibility == "private" if visibility is not None else bool(body.get("private"))
        self.repos[repo_id] = FakeRepo(repo_id, private=private, owner=namespace)
        return web.json_response({"url": url, "name": repo_id, "id": secrets.token_hex(12)})

    async def _info(self, request: web.Request) -> web.Response:
        caller = self._caller(request)
        if isinstance(caller, web.Response):
            return caller
        repo = self._repo(request)
        visible = repo is not None and (
            not repo.private or (caller is not None and caller.may_write(repo.owner))
        )
        if repo is None or not visible:
            return _error(404, "Repository not found", code="RepoNotFound")
        return web.json_response(
            {
                "id": repo.repo_id,
                "private": repo.private,
                "sha": repo.sha,
                "siblings": [{"rfilename": path} for path in sorted(repo.files)],
            }
        )

    async def _validate_yaml(self, request: web.Request) -> web.Response:
        import yaml

        body = await request.json()
        content: str = body.get("content", "")
        errors: list[dict[str, str]] = []
        if content.startswith("---\n"):
            head = content[4:].split("\n---\n", 1)
            if len(head) != 2:
                errors.append({"message": "The metadata block is not closed"})
            else:
                try:
                    meta = yaml.safe_load(head[0])
                except yaml.YAMLError as exc:
                    errors.append({"message": f"Invalid YAML: {exc}"})
                else:
                    if not isinstance(meta, dict):
                        errors.append({"message": "The metadata is not a mapping"})
        if errors:
            return web.json_response({"errors": errors, "warnings": []}, status=400)
        return web.json_response({"errors": [], "warnings": []})

    async def _preupload(self, request: web.Request) -> web.Response:
        repo = self._repo(request)
        caller = self._writer(request, request.match_info["ns"])
        if isinstance(caller, web.Response):
            return caller
        if repo is None:
            return _error(404, "Repository not found", code="RepoNotFound")
        body = await request.json()
        files = []
        for item in body["files"]:
            path = item["path"]
            base64.b64decode(item["sample"], validate=True)
            lfs = path.endswith(self.lfs_suffixes) and item["size"] > 0
            files.append(
                {"path": path, "uploadMode": "lfs" if lfs else "regular", "shouldIgnore": False}
            )
        return web.json_response({"files": files, "commitOid": repo.sha})

    async def _lfs_batch(self, request: web.Request) -> web.Response:
        repo_id, repo = self._git_repo(request)
        caller = self._writer(request, request.match_info["ns"])
        if isinstance(caller, web.Response):
            return caller
        if repo is None:
            return _error(404, "Repository not found", code="RepoNotFound")
        body = json.loads(await request.read())
        if body.get("operation") != "upload" or body.get("hash_algo") != "sha256":
            return _error(400, "Only sha256 uploads")
        objects = []
        for obj in body["objects"]:
            oid, size = obj["oid"], obj["size"]
            entry: dict[str, Any] = {"oid": oid, "size": size, "authenticated": True}
            if oid not in self.lfs_objects:
                ticket = secrets.token_urlsafe(16)
                self._tickets[ticket] = oid
                entry["actions"] = {
                    "upload": {"href": f"{self.url}/_lfs_upload/{ticket}"},
                    "verify": {"href": f"{self.url}/{repo_id}.git/info/lfs/objects/verify"},
                }
            objects.append(entry)
        return web.json_response(
            {"transfer": "basic", "objects": objects, "hash_algo": "sha256"},
            content_type="application/vnd.git-lfs+json",
        )

    async def _lfs_put(self, request: web.Request) -> web.Response:
        # Like a presigned storage URL: the ticket is the credential, no token is sent.
        oid = self._tickets.pop(request.match_info["ticket"], None)
        if oid is None:
            return _error(403, "Unknown or used upload ticket")
        data = await request.read()
        if hashlib.sha256(data).hexdigest() != oid:
            return _error(400, "Uploaded bytes do not match the announced sha256")
        self.lfs_objects[oid] = data
        return web.Response(status=200)

    async def _lfs_verify(self, request: web.Request) -> web.Response:
        caller = self._writer(request, request.match_info["ns"])
        if isinstance(caller, web.Response):
            return caller
        body = json.loads(await request.read())
        data = self.lfs_objects.get(body.get("oid", ""))
        if data is None or len(data) != body.get("size"):
            return _error(404, "Object not uploaded")
        return web.json_response({"success": True})

    async def _commit(self, request: web.Request) -> web.Response:
        repo = self._repo(request)
        caller = self._writer(request, request.match_info["ns"])
        if isinstance(caller, web.Response):
            return caller
        if repo is None:
            return _error(404, "Repository not found", code="RepoNotFound")
        if not request.content_type.startswith("application/x-ndjson"):
            return _error(400, "The commit body must be NDJSON")
        lines = [json.loads(line) for line in (await request.read()).splitlines() if line.strip()]
        if not lines or lines[0].get("key") != "header":
            return _error(400, "The first line must be the header")
        changes: dict[str, bytes | None] = {}
        for line in lines[1:]:
            key, value = line["key"], line["value"]
            if key == "file":
                if value.get("encoding") != "base64":
                    return _error(400, "Only base64 file contents")
                changes[value["path"]] = base64.b64decode(value["content"], validate=True)
            elif key == "lfsFile":
                data = self.lfs_objects.get(value["oid"])
                if data is None or value.get("algo") != "sha256":
                    return _error(400, f"LFS object of {value['path']} was never uploaded")
                changes[value["path"]] = data
            elif key in ("deletedFile", "deletedFolder"):
                changes[value["path"]] = None
            else:
                return _error(400, f"Unknown commit operation {key}")
        for path, data in changes.items():
            if data is None:
                repo.files.pop(path, None)
            else:
                repo.files[path] = data
        repo.commits.append(lines[0]["value"])
        repo.sha = hashlib.sha1(json.dumps(lines, sort_keys=True).encode()).hexdigest()
        return web.json_response(
            {
                "success": True,
                "commitOid": repo.sha,
                "commitUrl": f"{self.url}/{repo.repo_id}/commit/{repo.sha}",
            }
        )


def _error(
    status: int, message: str, *, code: str | None = None, message_header: bool = False
) -> web.Response:
    headers = {}
    if code:
        headers["X-Error-Code"] = code
    if message_header:
        headers["X-Error-Message"] = message
    return web.json_response({"error": message}, status=status, headers=headers)


@pytest.fixture
async def fake_hub(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeHub]:
    """A started FakeHub that huggingface_hub may reach (offline mode and Xet off for it)."""
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", True)
    hub = FakeHub()
    await hub.start()
    try:
        yield hub
    finally:
        await hub.stop()
