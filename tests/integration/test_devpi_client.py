"""devpi-client's HTTP exchanges, replayed call by call (devpi-client is
not packaged for Debian, so DevpiClient below sends exactly what its
commands send: X-Devpi-Auth with the token from /+login, Accept:
application/json, its User-Agent, string values for index options, the
key=value PATCH list once /+api advertises server-keyvalue-parsing).

Covers devpi use, login/logoff, user -c/-m/-l/--delete, index
-c/-m/-l/--delete, upload (with docs), list, remove, push, getjson, refresh
and the test-result upload, asserting statuses, JSON shapes and messages
(API.md 2-6)."""

import base64
import io
import json
import zipfile

import requests

import pkgbuild as pb

UA = "devpi-client/7.2.0 (py3.11.2; linux)"


class DevpiClient:
    def __init__(self, url):
        self.url = url.rstrip("/")
        self.s = requests.Session()
        self.auth = None            # (user, token) after login
        self.api = None
        self.index = None

    def _headers(self, extra=None):
        h = {"Accept": "application/json", "User-Agent": UA}
        if self.auth:
            h["X-Devpi-Auth"] = base64.b64encode(":".join(self.auth).encode()).decode()
        h.update(extra or {})
        return h

    def req(self, method, path, body=None, **kw):
        h = self._headers(kw.pop("headers", None))
        data = None
        if body is not None:
            h["Content-Type"] = "application/json"
            data = json.dumps(body)
        url = path if path.startswith("http") else self.url + path
        return self.s.request(method, url, data=data, headers=h, timeout=60, **kw)

    # devpi use [URL/user/index]
    def use(self, index=None):
        r = self.req("GET", f"/{index}/+api" if index else "/+api")
        assert r.status_code == 200, r.text
        assert r.headers["X-DEVPI-API-VERSION"] == "2"
        assert r.json()["type"] == "apiconfig"
        self.api = r.json()["result"]
        if index:
            self.index = index
        return self.api

    def login(self, user, password):
        r = self.req("POST", self.api["login"], {"user": user, "password": password})
        if r.status_code == 200:
            assert r.json()["type"] == "proxyauth"
            self.auth = (user, r.json()["result"]["password"])
        return r

    def logoff(self):
        self.auth = None            # client side only: tokens are not revoked

    def index_modify(self, name, *kvs):
        # devpi-client: key=value list when the server has server-keyvalue-parsing
        assert "server-keyvalue-parsing" in self.api["features"]
        return self.req("PATCH", f"/{name}", list(kvs))

    def upload(self, dist, name=None, version=None):
        fields = {":action": "file_upload", "protocol_version": "1", "name": name or dist.name,
                  "version": version or dist.version, "metadata_version": "2.1",
                  "summary": dist.summary, "pyversion": "py3" if dist.kind == "wheel" else "source",
                  "filetype": "bdist_wheel" if dist.kind == "wheel" else "sdist"}
        return self.s.post(self.api["pypisubmit"], data=fields,
                           files={"content": (dist.filename, dist.data)},
                           headers={k: v for k, v in self._headers().items() if k != "Accept"},
                           timeout=60)

    def upload_docs(self, name, version, zipdata):
        fields = {":action": "doc_upload", "protocol_version": "1", "name": name, "version": version}
        return self.s.post(self.api["pypisubmit"], data=fields,
                           files={"content": (f"{name}-{version}.doc.zip", zipdata)},
                           headers={k: v for k, v in self._headers().items() if k != "Accept"},
                           timeout=60)


def doc_zip():
    b = io.BytesIO()
    with zipfile.ZipFile(b, "w") as z:
        z.writestr("index.html", "<html><body>docs</body></html>")
    return b.getvalue()


def test_devpi_client_session(server, pkgdir):
    c = DevpiClient(server.url)
    api = c.use()
    assert api["authstatus"] == ["noauth", "", []]
    assert sorted(api["features"]) == api["features"]
    assert api["login"] == server.url + "/+login"

    # devpi user -c alice password=... email=...
    r = c.req("PUT", "/alice", {"password": "alice-pw", "email": "alice@example.org"},
              auth=server.root_auth)
    assert r.status_code == 201, r.text
    assert r.json()["type"] == "userconfig"
    assert r.json()["result"]["username"] == "alice"

    # devpi login alice
    assert c.login("alice", "wrong").status_code == 401
    r = c.login("alice", "alice-pw")
    assert r.status_code == 200 and r.json()["message"] == "login successful"
    assert c.use()["authstatus"][:2] == ["ok", "alice"]

    # devpi user -m alice email=...
    r = c.req("PATCH", "/alice", {"email": "new@example.org"})
    assert r.status_code == 200 and r.json()["message"] == "user updated"

    # devpi user -l
    r = c.req("GET", "/")
    assert r.status_code == 200 and r.json()["type"] == "list:userconfig"
    assert "alice" in r.json()["result"] and "root" in r.json()["result"]

    # devpi index -c dev bases=root/pypi volatile=False (strings, as devpi-client sends)
    r = c.req("PUT", "/alice/dev", {"bases": "", "volatile": "True"})
    assert r.status_code == 200, r.text
    assert r.json()["type"] == "indexconfig"
    r = c.req("PUT", "/alice/prod", {"bases": "alice/dev", "volatile": "False"})
    assert r.status_code == 200, r.text
    assert r.json()["result"]["volatile"] is False
    assert r.json()["result"]["bases"] == ["alice/dev"]

    # devpi index -m dev acl_upload+=bob ... (keyvalue PATCH)
    r = c.index_modify("alice/dev", "title=Development", "acl_upload+=:AUTHENTICATED:")
    assert r.status_code == 200, r.text
    assert r.json()["result"]["title"] == "Development"
    assert r.json()["result"]["acl_upload"] == ["alice", ":AUTHENTICATED:"]
    r = c.req("PATCH", "/alice/dev?error_on_noop", ["title=Development"])
    assert r.status_code == 400

    # devpi index -l
    r = c.req("GET", "/alice")
    assert sorted(r.json()["result"]["indexes"]) == ["dev", "prod"]

    # devpi use alice/dev; devpi upload (release files + docs)
    api = c.use("alice/dev")
    assert api["index"] == server.url + "/alice/dev"
    assert api["simpleindex"] == server.url + "/alice/dev/+simple/"
    assert api["pypisubmit"] == server.url + "/alice/dev/"
    sd = pb.make_sdist(pkgdir, "clientpkg", "1.0")
    wh = pb.make_wheel(pkgdir, "clientpkg", "1.0")
    for d in (sd, wh):
        r = c.upload(d)
        assert r.status_code == 200, (r.status_code, r.reason)
    r = c.upload_docs("clientpkg", "1.0", doc_zip())
    assert r.status_code == 200, (r.status_code, r.reason, r.text[:200])

    # devpi list / devpi list clientpkg / devpi getjson
    r = c.req("GET", "/alice/dev")
    assert r.json()["result"]["projects"] == ["clientpkg"]
    r = c.req("GET", "/alice/dev/clientpkg")
    assert r.status_code == 200 and r.json()["type"] == "projectconfig"
    links = r.json()["result"]["1.0"]["+links"]
    rels = sorted(l["rel"] for l in links)
    assert rels == ["doczip", "releasefile", "releasefile"], rels
    for l in links:
        assert l["log"][-1]["what"] == "upload" and l["log"][-1]["who"] == "alice"
    r = c.req("GET", "/alice/dev/clientpkg/1.0")
    assert r.status_code == 200 and r.json()["type"] == "versiondata"

    # devpi test: the tox result upload for the sdist
    sd_link = next(l for l in links if l["rel"] == "releasefile" and l["href"].endswith(".tar.gz"))
    r = c.req("POST", sd_link["href"], {"reportversion": "1", "testenvs": {"py311": {}}})
    assert r.status_code == 200, r.text
    assert r.json()["type"] == "toxresultpath"
    assert ".toxresult-" in r.json()["result"]

    # devpi push clientpkg==1.0 alice/prod
    r = c.req("POST", "/alice/dev", {"name": "clientpkg", "version": "1.0", "targetindex": "alice/prod"})
    assert r.status_code == 200, r.text
    assert r.json()["type"] == "actionlog"
    assert r.json()["result"][0][:2] == [200, "register"]
    r = c.req("GET", "/alice/prod/clientpkg?ignore_bases")
    assert r.status_code == 200, r.text
    pushed = r.json()["result"]["1.0"]["+links"]
    assert sorted(l["rel"] for l in pushed if l["rel"] == "releasefile") == ["releasefile", "releasefile"]
    assert any(e["what"] == "push" for l in pushed for e in l.get("log", []))

    # devpi refresh clientpkg (a private project: nothing to drop, answers a redirect)
    r = c.req("POST", "/alice/dev/+simple/clientpkg/refresh", allow_redirects=False)
    assert r.status_code in (200, 302), r.text

    # devpi remove clientpkg==1.0 (lists with ?ignore_bases, then deletes per version)
    r = c.req("GET", "/alice/dev/clientpkg?ignore_bases")
    assert list(r.json()["result"]) == ["1.0"]
    r = c.req("DELETE", "/alice/dev/clientpkg/1.0")
    assert r.status_code == 200 and r.json()["message"] == "project 'clientpkg' version '1.0' deleted"
    assert c.req("GET", "/alice/dev/clientpkg").status_code == 404
    # the non-volatile copy stays
    assert c.req("GET", "/alice/prod/clientpkg?ignore_bases").status_code == 200

    # devpi index --delete (non-volatile refused), devpi user --delete
    r = c.req("DELETE", "/alice/prod")
    assert r.status_code == 403 and r.json()["message"] == "index alice/prod non-volatile, cannot delete"
    r = c.req("DELETE", "/alice/dev")
    assert r.status_code == 201 and r.json()["message"] == "index alice/dev deleted"
    r = c.req("DELETE", "/alice")
    assert r.status_code == 403 and r.json()["message"] == "user 'alice' has non-volatile index: prod"
    # alice/dev (prod's base) is gone: a modify must name valid bases
    r = c.index_modify("alice/prod", "volatile=True")
    assert r.status_code == 400 and "alice/dev" in r.json()["message"]
    assert c.index_modify("alice/prod", "volatile=True", "bases=").status_code == 200
    r = c.req("DELETE", "/alice")
    assert r.status_code == 200 and r.json()["message"] == "user 'alice' deleted"

    # devpi logoff: the client forgets the token; the server answers as anonymous
    c.logoff()
    assert c.use()["authstatus"] == ["noauth", "", []]


def test_devpi_client_password_change_keeps_it_logged_in(server):
    c = DevpiClient(server.url)
    c.use()
    user, pw = server.create_user()
    assert c.login(user, pw).status_code == 200
    # devpi user -m <user> password=...: the answer carries a new token the client stores
    r = c.req("PATCH", f"/{user}", {"password": "changed-pw"})
    assert r.status_code == 200 and r.json()["type"] == "userpassword"
    c.auth = (user, r.json()["result"]["password"])
    assert c.use()["authstatus"][:2] == ["ok", user]


def test_devpi_client_expired_or_bad_token_is_anonymous(server):
    c = DevpiClient(server.url)
    c.use()
    user, pw = server.create_user()
    c.auth = (user, f"{user}.1.{'0' * 64}")          # expired, bad mac
    assert c.use()["authstatus"] == ["noauth", "", []]
    r = c.req("PUT", f"/{user}/dev", {})
    assert r.status_code == 403
