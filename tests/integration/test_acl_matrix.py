"""The access-control matrix (API.md 2.6, issue 5): every role × every route
of API.md section 1 × its methods, asserted against a hand-written table —
once on a default server (roles: anonymous, the stage's owner, another
user, root) and once with --restrict-modify (plus the principal "admin",
and root no longer implied).

Every request here is chosen to leave the fixtures usable: writes are
no-ops, to names that do not exist (so an allowed delete answers 404 and a
refused one 403), or to fresh names per role."""

import json

import pytest

import pkgbuild as pb
from harness import Stage

A, O, X, R, M = "anonymous", "owner", "other", "root", "admin"


def build(server, pkgdir, admin=None):
    """owner/dev with mx 1.0 uploaded, and owner/target for pushes."""
    owner, opw = server.create_user("owner", "owner-pw") if admin is None else _create(server, admin, "owner")
    creator = (owner, opw) if admin is None else admin
    for idx in ("dev", "target"):
        r = server.jreq("PUT", f"/{owner}/{idx}", {}, auth=creator)
        assert r.status_code == 200, r.text
    st = Stage(server, owner, opw)
    sd = pb.make_sdist(pkgdir, "mx", "1.0")
    st.upload_ok(sd)
    other = server.create_user("other", "other-pw") if admin is None else _create(server, admin, "other")
    return st, sd, other


def _create(server, admin, name):
    r = server.jreq("PUT", f"/{name}", {"password": f"{name}-pw"}, auth=admin)
    assert r.status_code == 201, r.text
    return name, f"{name}-pw"


def run_matrix(server, table, auths, fmt):
    failures = []
    for method, tpl, body, expect in table:
        for role, status in expect.items():
            path = tpl.format(role=role, **fmt)
            b = body(role) if callable(body) else body
            kw = {}
            if isinstance(b, bytes):
                kw["raw_body"] = b
                b = None
            r = server.jreq(method, path, b, auth=auths[role], allow_redirects=False, **kw)
            if r.status_code != status:
                failures.append(f"{role:9} {method:6} {path}: {r.status_code}, expected {status} "
                                f"({r.text[:120]!r})")
    assert not failures, "\n".join(failures)


def default_table(sd):
    push = lambda role: {"name": "mx", "version": "1.0", "targetindex": "owner/target"}  # noqa: E731
    tox = json.dumps({"testenvs": {}}).encode()
    return [
        # /
        ("GET", "/", None, {A: 200, O: 200, X: 200, R: 200}),
        ("DELETE", "/", None, {A: 405, O: 405, X: 405, R: 405}),
        # /+api, /+status, /+login, /+authcheck
        ("GET", "/+api", None, {A: 200, O: 200, X: 200, R: 200}),
        ("GET", "/{s}/+api", None, {A: 200, O: 200, X: 200, R: 200}),
        ("GET", "/+status", None, {A: 200, O: 200, X: 200, R: 200}),
        ("POST", "/+login", {"user": "owner", "password": "wrong"}, {A: 401, O: 401, X: 401, R: 401}),
        ("GET", "/+login", None, {A: 405, O: 405, X: 405, R: 405}),
        ("GET", "/+authcheck", None, {A: 403, O: 403, X: 403, R: 403}),
        # /<user>
        ("GET", "/owner", None, {A: 200, O: 200, X: 200, R: 200}),
        ("PUT", "/new-{role}", {"password": "pw"}, {A: 403, O: 201, X: 201, R: 201}),
        ("PATCH", "/owner", {"title": "t"}, {A: 403, O: 200, X: 403, R: 200}),
        ("PATCH", "/owner", {"password": "owner-pw"}, {A: 403, O: 200, X: 403, R: 200}),
        ("DELETE", "/ghost", None, {A: 403, O: 403, X: 403, R: 404}),
        ("DELETE", "/root", None, {A: 403, O: 403, X: 403, R: 403}),
        # /<user>/<index>
        ("GET", "/{s}", None, {A: 200, O: 200, X: 200, R: 200}),
        ("PUT", "/owner/idx-{role}", {}, {A: 403, O: 200, X: 403, R: 200}),
        ("PATCH", "/{s}", {"title": "t"}, {A: 403, O: 200, X: 403, R: 200}),
        ("POST", "/{s}", push, {A: 401, O: 200, X: 401, R: 401}),
        ("PUSH", "/{s}", push, {A: 401, O: 200, X: 401, R: 401}),
        ("DELETE", "/nobody/none", None, {A: 404, O: 404, X: 404, R: 404}),
        # simple pages
        ("GET", "/{s}/+simple/", None, {A: 200, O: 200, X: 200, R: 200}),
        ("GET", "/{s}/+simple/mx/", None, {A: 200, O: 200, X: 200, R: 200}),
        ("PUT", "/{s}/+simple/mx/", None, {A: 405, O: 405, X: 405, R: 405}),
        ("POST", "/{s}/+simple/mx/refresh", None, {A: 302, O: 302, X: 302, R: 302}),
        # files
        ("GET", "{f}", None, {A: 200, O: 200, X: 200, R: 200}),
        ("POST", "{f}", tox, {A: 200, O: 200, X: 200, R: 200}),
        ("PUT", "{f}", None, {A: 405, O: 405, X: 405, R: 405}),
        ("DELETE", "{f}.nope", None, {A: 403, O: 404, X: 403, R: 404}),
        # project and version
        ("GET", "/{s}/mx", None, {A: 200, O: 200, X: 200, R: 200}),
        ("DELETE", "/{s}/mx-nope", None, {A: 403, O: 404, X: 403, R: 404}),
        ("PUT", "/{s}/mx", None, {A: 405, O: 405, X: 405, R: 405}),
        ("GET", "/{s}/mx/1.0", None, {A: 200, O: 200, X: 200, R: 200}),
        ("PATCH", "/{s}/mx/1.0", {"yanked": False}, {A: 401, O: 200, X: 403, R: 403}),
        ("DELETE", "/{s}/mx/9.9", None, {A: 403, O: 404, X: 403, R: 404}),
        ("PUT", "/{s}/mx/1.0", None, {A: 405, O: 405, X: 405, R: 405}),
    ]


def test_matrix_default(server_factory, pkgdir):
    s = server_factory()
    st, sd, other = build(s, pkgdir)
    auths = {A: None, O: st.auth, X: other, R: s.root_auth}
    run_matrix(s, default_table(sd), auths, {"s": st.name, "f": st.file_path(sd)})


def test_matrix_restrict_modify(server_factory, pkgdir):
    s = server_factory(args=["--restrict-modify", "admin"])
    # bootstrap: root may not create users here, so the first principal is
    # made with a second server on the same store without the restriction
    s.stop()
    boot = server_factory(serverdir=s.serverdir, root_passwd=s.root_passwd)
    boot.create_user("admin", "admin-pw")
    boot.stop()
    s.start()
    admin = ("admin", "admin-pw")
    st, sd, other = build(s, pkgdir, admin=admin)
    push = {"name": "mx", "version": "1.0", "targetindex": "owner/target"}
    table = [
        ("GET", "/", None, {A: 200, O: 200, X: 200, R: 200, M: 200}),
        ("PUT", "/new-{role}", {"password": "pw"}, {A: 403, O: 403, X: 403, R: 403, M: 201}),
        ("PATCH", "/owner", {"title": "t"}, {A: 403, O: 403, X: 403, R: 403, M: 200}),
        ("PATCH", "/owner", {"password": "owner-pw"}, {A: 403, O: 200, X: 403, R: 403, M: 200}),
        ("DELETE", "/ghost", None, {A: 403, O: 403, X: 403, R: 403, M: 404}),
        ("DELETE", "/admin", None, {A: 403, O: 403, X: 403, R: 403, M: 403}),
        ("GET", "/{s}", None, {A: 200, O: 200, X: 200, R: 200, M: 200}),
        ("PUT", "/owner/idx-{role}", {}, {A: 403, O: 403, X: 403, R: 403, M: 200}),
        ("PATCH", "/{s}", {"title": "t"}, {A: 403, O: 403, X: 403, R: 403, M: 200}),
        ("POST", "/{s}", push, {A: 401, O: 200, X: 401, R: 401, M: 401}),
        ("GET", "/{s}/+simple/mx/", None, {A: 200, O: 200, X: 200, R: 200, M: 200}),
        ("GET", "{f}", None, {A: 200, O: 200, X: 200, R: 200, M: 200}),
        ("DELETE", "{f}.nope", None, {A: 403, O: 404, X: 403, R: 403, M: 404}),
        ("DELETE", "/{s}/mx-nope", None, {A: 403, O: 404, X: 403, R: 403, M: 404}),
        ("DELETE", "/{s}/mx/9.9", None, {A: 403, O: 404, X: 403, R: 403, M: 404}),
        ("PATCH", "/{s}/mx/1.0", {"yanked": False}, {A: 401, O: 200, X: 403, R: 403, M: 403}),
    ]
    auths = {A: None, O: st.auth, X: other, R: s.root_auth, M: admin}
    run_matrix(s, table, auths, {"s": st.name, "f": st.file_path(sd)})
    # uploads: acl_upload, whoever the principals are
    d = pb.make_sdist(pkgdir / "u", "mxu", "1.0")
    for role, status in {A: 401, O: 200, X: 403, R: 403, M: 403}.items():
        r = st.upload(d, auth=auths[role])
        assert r.status_code == status, (role, r.status_code, r.reason)
