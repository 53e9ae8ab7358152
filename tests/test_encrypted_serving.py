"""DNS over TLS and DNS over HTTPS served to clients, with kdig as the client, the same
policy as plain DNS, per-group DoH paths, and DDR discovery."""

from __future__ import annotations

import ssl
import subprocess
import urllib.request
from pathlib import Path

import dns.message
import dns.rcode
import pytest

from admin.config import ConfigError, load_config_text
from tests.servers import free_port
from tests.tlsservers import TLS_NAME, CertAuthority

TOKEN = "0123456789abcdef0123456789abcdef"


@pytest.fixture
def service(tmp_path: Path, straja_factory, unbound):  # type: ignore[no-untyped-def]
    ca = CertAuthority(tmp_path)
    cert, key, _ = ca.leaf("service", "127.0.0.1")
    tls_port, https_port = free_port(), free_port()
    s = straja_factory({
        "upstreams": [unbound.address],
        "dns": {"tls_listen": [f"127.0.0.1:{tls_port}"],
                "https_listen": [f"127.0.0.1:{https_port}"],
                "tls_cert": str(cert), "tls_key": str(key), "ddr": True},
        "local": {"deny": ["mixed.example.test"]},
        "blocking": {"action": "nxdomain"},
        "groups": [{"name": "kids", "clients": ["10.9.0.0/16"], "doh_token": TOKEN,
                    "lists": []}],
        "local_records": ["ok.school.lan. 300 A 192.168.1.5"],
    })
    s.ca, s.tls_port, s.https_port = ca, tls_port, https_port
    return s


def kdig(server, *args: str) -> str:  # type: ignore[no-untyped-def]
    out = subprocess.run(
        ["kdig", "@127.0.0.1", f"+tls-ca={server.ca.path}", f"+tls-hostname={TLS_NAME}",
         "+timeout=5", "+retry=0", *args],
        capture_output=True, text=True, timeout=30,
    )
    return out.stdout + out.stderr


def test_kdig_over_tls_gets_the_same_decisions_as_plain_dns(service) -> None:  # type: ignore[no-untyped-def]
    allowed = kdig(service, "-p", str(service.tls_port), "+tls", "www.example.test", "A")
    assert "status: NOERROR" in allowed and "192.0.2.10" in allowed, allowed
    blocked = kdig(service, "-p", str(service.tls_port), "+tls", "mixed.example.test", "A")
    assert "status: NXDOMAIN" in blocked
    local = kdig(service, "-p", str(service.tls_port), "+tls", "ok.school.lan", "A")
    assert "192.168.1.5" in local


def test_kdig_over_https_and_per_group_paths(service) -> None:  # type: ignore[no-untyped-def]
    port = ["-p", str(service.https_port)]
    allowed = kdig(service, *port, "+https", "www.example.test", "A")
    assert "status: NOERROR" in allowed and "192.0.2.10" in allowed, allowed
    assert "status: NXDOMAIN" in kdig(service, *port, "+https", "mixed.example.test", "A")
    # The group's path answers like the group (here: the same deny), and a wrong token is
    # not a resolver at all.
    grouped = kdig(service, *port, f"+https=/dns-query/{TOKEN}", "www.example.test", "A")
    assert "192.0.2.10" in grouped
    wrong = kdig(service, *port, "+https=/dns-query/not-the-token-at-all", "www.example.test")
    assert "192.0.2.10" not in wrong
    assert TOKEN not in service.read_log()


def test_doh_over_http1_get_and_post(service) -> None:  # type: ignore[no-untyped-def]
    import base64

    context = ssl.create_default_context(cafile=str(service.ca.path))
    context.check_hostname = False
    query = dns.message.make_query("www.example.test", "A")
    query.id = 0
    wire = query.to_wire()
    url = f"https://127.0.0.1:{service.https_port}/dns-query"
    get = urllib.request.urlopen(url + "?dns=" + base64.urlsafe_b64encode(wire).rstrip(b"=")
                                 .decode(), context=context, timeout=10)
    assert get.headers["content-type"] == "application/dns-message"
    assert "192.0.2.10" in dns.message.from_wire(get.read()).to_text()
    post = urllib.request.urlopen(urllib.request.Request(
        url, data=wire, headers={"content-type": "application/dns-message"}),
        context=context, timeout=10)
    assert "192.0.2.10" in dns.message.from_wire(post.read()).to_text()
    with pytest.raises(urllib.error.HTTPError) as bad:
        urllib.request.urlopen(urllib.request.Request(
            url, data=b"junk", headers={"content-type": "text/plain"}), context=context,
            timeout=10)
    assert bad.value.code == 415


def test_ddr_advertises_the_encrypted_services(service) -> None:  # type: ignore[no-untyped-def]
    answer = service.query("_dns.resolver.arpa", "SVCB")
    text = answer.to_text()
    assert answer.rcode() == dns.rcode.NOERROR
    assert 'alpn="dot"' in text and f'port="{service.tls_port}"' in text
    assert "dohpath" in text or "key7" in text


def test_encrypted_listeners_are_checked(tmp_path: Path) -> None:
    ca = CertAuthority(tmp_path)
    cert, key, _ = ca.leaf("svc", "127.0.0.9")
    base = (f"upstreams: ['127.0.0.1:53']\nstop_page: {{listen: ['127.0.0.1:8080']}}\n"
            f"dns:\n  listen: ['127.0.0.1:5353']\n  tls_cert: {cert}\n  tls_key: {key}\n")
    with pytest.raises(ConfigError, match="also a STOP page"):
        load_config_text(base + "  https_listen: ['127.0.0.1:8080']\n", "straja.yaml")
    with pytest.raises(ConfigError, match="does not cover 127.0.0.1"):
        load_config_text(base + "  tls_listen: ['127.0.0.1:8853']\n  ddr: true\n",
                         "straja.yaml")
    with pytest.raises(ConfigError, match="need tls_cert and tls_key"):
        load_config_text("upstreams: ['127.0.0.1:53']\ndns: {tls_listen: ['127.0.0.1:853']}\n",
                         "straja.yaml")
    with pytest.raises(ConfigError, match="dns.tls_cert"):
        load_config_text(f"upstreams: ['127.0.0.1:53']\ndns: {{tls_listen: ['127.0.0.1:853'], "
                         f"tls_cert: {cert}, tls_key: {cert}}}\n", "straja.yaml")


def test_with_several_workers_dot_runs_in_each_and_doh_once(  # type: ignore[no-untyped-def]
    tmp_path: Path, straja_factory, unbound
) -> None:
    ca = CertAuthority(tmp_path)
    cert, key, _ = ca.leaf("service", "127.0.0.1")
    tls_port, https_port = free_port(), free_port()
    s = straja_factory({
        "upstreams": [unbound.address],
        "dns": {"workers": 2, "tls_listen": [f"127.0.0.1:{tls_port}"],
                "https_listen": [f"127.0.0.1:{https_port}"],
                "tls_cert": str(cert), "tls_key": str(key)},
    })
    s.ca = ca
    for _ in range(4):  # new connections land on either worker
        assert "192.0.2.10" in kdig(s, "-p", str(tls_port), "+tls", "www.example.test")
    import time

    deadline = time.monotonic() + 20  # the control process starts beside the workers
    while "DNS over HTTPS on" not in s.read_log() and time.monotonic() < deadline:
        time.sleep(0.3)
    assert "192.0.2.10" in kdig(s, "-p", str(https_port), "+https", "www.example.test")
    log = s.read_log()
    assert log.count("DNS over TLS on") == 2
    assert log.count("DNS over HTTPS on") == 1
