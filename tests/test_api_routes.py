"""The admin app's routes against a real `straja serve`: which need authentication, that the
OpenAPI file matches them, and how the JSON API answers (errors naming the field, scopes,
CSRF, roles, security headers)."""

from __future__ import annotations

import ssl
import time
from pathlib import Path

import pytest
import yaml

from admin.config import load_config
from admin.web.app import build_app
from tests.admintools import AdminClient, add_user, admin_base, create_token, wait_admin
from tests.servers import REPO, Straja

PASSWORD = "correct horse battery staple"
PUBLIC = {("GET", "/login"), ("POST", "/login"), ("GET", "/setup"), ("POST", "/setup"),
          ("GET", "/static")}


@pytest.fixture(params=["sqlite", "postgresql"])
def server(request, straja_factory, unbound) -> Straja:  # type: ignore[no-untyped-def]
    """A served admin UI on the embedded SQLite store, then on a real PostgreSQL."""
    admin = {}
    if request.param == "postgresql":
        admin["database"] = request.getfixturevalue("pg_server").new_database()
    s: Straja = straja_factory({"upstreams": [unbound.address], "admin": admin})
    wait_admin(s)
    return s


@pytest.fixture
def admin(server: Straja) -> AdminClient:
    client = AdminClient(admin_base(server))
    assert client.setup(str(server.config["state_dir"]), "teacher", PASSWORD).status == 303
    return client


def app_routes(server: Straja) -> list[tuple[str, str]]:
    """(method, path) of every route of the app this server runs, from the factory."""
    app = build_app(load_config(server.config_path), None)
    return sorted({(r.method, r.resource.canonical) for r in app.router.routes()
                   if r.method != "HEAD" and r.resource is not None})


def _anonymous(server: Straja, method: str, path: str) -> tuple[int, str]:
    client = AdminClient(admin_base(server))
    target = "/static/app.css" if path == "/static" else path
    if method == "POST":
        reply = client.post_form(target, {})
    else:
        reply = client.get(target)
    return reply.status, reply.headers.get("Location", "")


def test_every_route_needs_authentication_except_login_setup_and_static(server: Straja) -> None:
    routes = app_routes(server)
    assert len(routes) > 30
    open_routes = set()
    for method, path in routes:
        status, location = _anonymous(server, method, path)
        if status == 401 or (status == 303 and location.startswith("/login")):
            continue
        open_routes.add((method, path))
    assert open_routes == PUBLIC


def test_metrics_is_open_only_with_metrics_auth_none(straja_factory, unbound) -> None:
    guarded = straja_factory({"upstreams": [unbound.address]})
    wait_admin(guarded)
    assert _anonymous(guarded, "GET", "/metrics")[0] == 401
    reader = AdminClient(admin_base(guarded), token=create_token(guarded, {"read"}))
    assert reader.get("/metrics").status == 403
    scraper = AdminClient(admin_base(guarded), token=create_token(guarded, {"metrics"}))
    reply = scraper.get("/metrics")
    assert reply.status == 200 and "straja_dns_queries_total" in reply.text
    assert scraper.get("/api/v1/dashboard").status == 403  # metrics is not read

    open_server = straja_factory({"upstreams": [unbound.address],
                                  "admin": {"metrics_auth": "none"}})
    wait_admin(open_server)
    assert _anonymous(open_server, "GET", "/metrics")[0] == 200
    public = set()
    for method, path in app_routes(open_server):
        code, location = _anonymous(open_server, method, path)
        if not (code == 401 or (code == 303 and location.startswith("/login"))):
            public.add((method, path))
    assert public == PUBLIC | {("GET", "/metrics")}


def documented_routes() -> set[tuple[str, str]]:
    spec = yaml.safe_load((REPO / "docs" / "openapi.yaml").read_text())
    found = set()
    for path, item in spec["paths"].items():
        for method in item:
            if method in ("get", "post", "put", "delete", "patch"):
                found.add((method.upper(), path))
    return found


def test_openapi_documents_every_api_route_and_nothing_else(server: Straja) -> None:
    api = {(m, p) for m, p in app_routes(server) if p.startswith("/api/") or p == "/metrics"}
    documented = documented_routes()
    assert sorted(api - documented) == [], "routes missing from docs/openapi.yaml"
    assert sorted(documented - api) == [], "docs/openapi.yaml names routes the app lacks"


def test_api_md_names_every_api_route(server: Straja) -> None:
    text = (REPO / "docs" / "api.md").read_text()
    missing = [f"{m} {p}" for m, p in app_routes(server)
               if (p.startswith("/api/") or p == "/metrics") and f"{m} {p}" not in text]
    assert missing == []


def test_api_errors_are_json_naming_the_field(server: Straja, admin: AdminClient) -> None:
    writer = AdminClient(admin_base(server), token=create_token(server, {"read", "write"}))
    reply = writer.post_json("/api/v1/overrides/add", {"kind": "maybe", "name": "a.test"})
    assert reply.status == 400
    assert reply.json()["error"]["field"] == "kind"
    assert "maybe" in reply.json()["error"]["message"]
    reply = writer.post_json("/api/v1/overrides/add", {"kind": "allow"})
    assert reply.status == 400 and reply.json()["error"]["field"] == "name"
    reply = writer.post_json("/api/v1/overrides/add", {"kind": "deny", "name": "x.test",
                                                       "expires": "next tuesday"})
    assert reply.status == 400 and reply.json()["error"]["field"] == "expires"
    reply = writer.get("/api/v1/check?name=bad..name")
    assert reply.status == 400 and reply.json()["error"]["field"] == "name"
    reply = writer.get("/api/v1/transparency?from=yesterday")
    assert reply.status == 400 and reply.json()["error"]["field"] == "from"
    reply = writer.post_json("/api/v1/overrides/add", {"kind": "deny", "name": "x.test",
                                                       "comment": "homework cheat site"})
    assert reply.status == 200
    assert reply.json()["override"]["name"] == "x.test"
    listed = writer.get("/api/v1/overrides").json()
    assert [o["name"] for o in listed["overrides"]] == ["x.test"]
    audit = writer.get("/api/v1/audit").json()["entries"]
    assert audit[0]["actor"] == "token:test" and "x.test" in audit[0]["target"]


def test_a_read_token_cannot_write(server: Straja, admin: AdminClient) -> None:
    reader = AdminClient(admin_base(server), token=create_token(server, {"read"}))
    assert reader.get("/api/v1/overrides").status == 200
    reply = reader.post_json("/api/v1/overrides/add", {"kind": "deny", "name": "x.test"})
    assert reply.status == 403 and "write" in reply.json()["error"]["message"]
    assert reader.get("/api/v1/overrides").json()["overrides"] == []
    wrong = AdminClient(admin_base(server), token="not-a-token")
    assert wrong.get("/api/v1/overrides").status == 401


def test_a_form_post_without_its_csrf_token_fails(server: Straja, admin: AdminClient) -> None:
    reply = admin.post_form("/overrides/add", {"kind": "deny", "name": "x.test"})
    assert reply.status == 403
    reply = admin.post_json("/api/v1/overrides/add", {"kind": "deny", "name": "x.test"})
    assert reply.status == 403 and reply.json()["error"]["field"] == "csrf"
    assert admin.get("/api/v1/overrides").json()["overrides"] == []
    csrf = admin.get("/overrides").csrf()
    reply = admin.post_form("/overrides/add", {"csrf": csrf, "kind": "deny", "name": "x.test"})
    assert reply.status == 303
    reply = admin.post_json("/api/v1/overrides/add", {"kind": "deny", "name": "y.test"},
                            **{"X-CSRF-Token": csrf})
    assert reply.status == 200
    assert len(admin.get("/api/v1/overrides").json()["overrides"]) == 2


def test_a_viewer_reads_but_cannot_change(server: Straja, admin: AdminClient) -> None:
    add_user(server, "pupil", PASSWORD, "viewer")
    viewer = AdminClient(admin_base(server))
    assert viewer.login("pupil", PASSWORD).status == 303
    page = viewer.get("/overrides")
    assert page.status == 200 and "read-only access" in page.text
    assert 'action="/overrides/add"' not in page.text
    csrf = page.csrf()  # the sign-out form's
    for path, fields in [("/overrides/add", {"kind": "allow", "name": "x.test"}),
                         ("/groups/pause", {"minutes": "5"}),
                         ("/health/selftest", {}), ("/lists/update", {})]:
        assert viewer.post_form(path, {"csrf": csrf, **fields}).status == 403
    assert viewer.post_json("/api/v1/groups/pause", {"minutes": 5},
                            **{"X-CSRF-Token": csrf}).status == 403
    assert admin.get("/api/v1/overrides").json()["overrides"] == []
    assert admin.get("/api/v1/groups").json()["pauses"] == []
    assert viewer.post_form("/logout", {"csrf": csrf}).status == 303


def test_pages_send_security_headers_and_strict_cookies(server: Straja) -> None:
    client = AdminClient(admin_base(server))
    reply = client.get("/login")
    csp = reply.headers["Content-Security-Policy"]
    script = next(d for d in csp.split(";") if d.strip().startswith("script-src"))
    assert "unsafe-inline" not in script and "'self'" in script
    assert "frame-ancestors 'none'" in csp
    assert reply.headers["X-Content-Type-Options"] == "nosniff"
    assert reply.headers["Referrer-Policy"] == "no-referrer"
    reply = client.setup(str(server.config["state_dir"]), "teacher", PASSWORD)
    cookie = reply.headers["Set-Cookie"]
    assert "straja_session=" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert "Secure" not in cookie  # plain HTTP on loopback; Secure comes with admin.tls_cert


def test_the_dashboard_stays_under_100_kb(server: Straja, admin: AdminClient) -> None:
    page = admin.get("/")
    assert page.status == 200
    assets = [admin.get(p) for p in ("/static/app.css", "/static/app.js",
                                     "/static/favicon.svg")]
    assert all(a.status == 200 for a in assets)
    assert "http://" not in page.text.replace(admin.base, "") and "https://" not in page.text
    total = len(page.body) + sum(len(a.body) for a in assets)
    assert total <= 100 * 1024


def test_api_twins_give_the_page_data(server: Straja, admin: AdminClient) -> None:
    for path in ("/dashboard", "/health", "/lists", "/check?name=www.example.test",
                 "/overrides", "/groups", "/reports", "/audit", "/querylog", "/transparency"):
        reply = admin.get("/api/v1" + path)
        assert reply.status == 200, (path, reply.text)
        assert reply.headers["Content-Type"].startswith("application/json")
    check = admin.get("/api/v1/check?name=www.example.test").json()
    assert check["result"]["blocked"] is False and check["result"]["decision"]["group"]
    dash = admin.get("/api/v1/dashboard").json()
    assert set(dash["blocked_share"]) == {"mandatory", "operator", "family"}


def test_first_run_setup_works_once_and_the_log_names_only_the_file(server: Straja) -> None:
    state_dir = str(server.config["state_dir"])
    token = (Path(state_dir) / "setup-token").read_text().strip()
    assert oct((Path(state_dir) / "setup-token").stat().st_mode & 0o777) == "0o600"
    client = AdminClient(admin_base(server))
    page = client.get("/setup?token=wrong")
    reply = client.post_form("/setup", {"csrf": page.csrf(), "token": "wrong", "name": "x",
                                        "password": PASSWORD, "password2": PASSWORD})
    assert reply.status == 403
    assert client.setup(state_dir, "teacher", PASSWORD).status == 303
    assert not (Path(state_dir) / "setup-token").exists()
    again = AdminClient(admin_base(server))
    page = again.get(f"/setup?token={token}")
    assert "Setup is done" in page.text
    reply = again.post_form("/setup", {"csrf": again.get("/login").csrf(), "token": token,
                                       "name": "mallory", "password": PASSWORD,
                                       "password2": PASSWORD})
    assert reply.status == 409
    log = server.read_log()
    assert str(Path(state_dir) / "setup-token") in log
    assert token not in log and PASSWORD not in log


def test_the_ui_runs_once_in_the_control_process_with_several_workers(straja_factory,
                                                                       unbound) -> None:
    s = straja_factory({"upstreams": [unbound.address], "dns": {"workers": 2}})
    client = wait_admin(s)
    assert client.setup(str(s.config["state_dir"]), "teacher", PASSWORD).status == 303
    for _ in range(5):
        s.query("www.example.test")
    deadline = time.monotonic() + 30
    while client.get("/api/v1/dashboard").json()["workers"] < 2:
        assert time.monotonic() < deadline, "both workers never reported"
        time.sleep(0.5)
    log = s.read_log()
    assert log.count("admin UI on http://") == 1  # one listener, in the control process


def _self_signed(directory: Path) -> tuple[Path, Path]:
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / "admin.crt", directory / "admin.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def test_https_with_admin_tls_cert_sets_secure_cookies(straja_factory, unbound,
                                                       tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    s = straja_factory({"upstreams": [unbound.address],
                        "admin": {"tls_cert": str(cert), "tls_key": str(key)}})
    context = ssl.create_default_context(cafile=str(cert))
    context.check_hostname = False
    client = AdminClient(f"https://127.0.0.1:{s.admin_port}", context=context)
    deadline = time.monotonic() + 30
    while True:
        try:
            reply = client.get("/login")
            break
        except OSError:
            assert time.monotonic() < deadline, s.read_log()
            time.sleep(0.2)
    assert reply.status == 200 and "Strict-Transport-Security" in reply.headers
    reply = client.setup(str(s.config["state_dir"]), "teacher", PASSWORD)
    assert reply.status == 303
    assert "Secure" in reply.headers["Set-Cookie"] and "HttpOnly" in reply.headers["Set-Cookie"]
    assert client.get("/api/v1/health").status == 200
    assert "admin UI on https://127.0.0.1:" in s.read_log()


def test_without_a_reachable_database_dns_answers_and_the_ui_says_so(straja_factory,
                                                                     unbound) -> None:
    gone = "postgresql+psycopg://straja@127.0.0.1:1/straja"  # nothing listens on port 1
    s = straja_factory({"upstreams": [unbound.address], "admin": {"database": gone}})
    client = AdminClient(admin_base(s), token="any-token")
    deadline = time.monotonic() + 30
    while True:
        try:
            reply = client.get("/api/v1/dashboard")
            break
        except OSError:
            assert time.monotonic() < deadline, s.read_log()
            time.sleep(0.2)
    assert reply.status == 503
    assert reply.json()["error"]["field"] is None
    assert "database" in reply.json()["error"]["message"]
    page = AdminClient(admin_base(s)).get("/login")
    assert page.status == 503 and "DNS keeps answering" in page.text
    assert [str(r) for r in s.query("www.example.test").answer[0]] == ["192.0.2.10"]
