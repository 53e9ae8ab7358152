"""/etc/config/straja (UCI) into Straja's YAML: every option, both dnsmasq modes, and the
errors that name the line. The shipped file translates into a config `straja config
check` accepts."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

from admin import uci
from admin.config import load_config
from tests.listtools import straja_cli
from tests.servers import REPO

SHIPPED = REPO / "deploy" / "openwrt" / "files" / "straja.config"
ROUTER = uci.RouterFacts(lan_ipv4=["192.168.1.1/24"], lan_ipv6=["fd12:3456:789a::1/64"],
                         wan_resolvers=["10.0.0.1", "2001:db8::53"], domain="lan")
ALL_SECTIONS = uci.supported_sections() | {"admin", "query_log", "forward"}


def translate(text: str, facts: uci.RouterFacts = ROUTER,
              supported: set[str] | None = None) -> dict[str, Any]:
    body = textwrap.dedent(text)
    if "config straja" not in body:
        body = "config straja 'main'\n" + body
    return uci.translate(uci.parse_uci(body, "straja"), facts, "straja",
                         ALL_SECTIONS if supported is None else supported)


def test_parse_reads_quotes_comments_lists_and_anonymous_sections() -> None:
    sections = uci.parse_uci(textwrap.dedent("""\
        package straja
        # a comment
        config straja
        \toption operator_name "Liceul \\"Nr. 1\\""  # trailing comment
        \tlist upstream '9.9.9.9'
        \tlist upstream 149.112.112.112
        config list 'hotline'
        """))
    main, hotline = sections
    assert (main.kind, main.name, hotline.name) == ("straja", "@straja[0]", "hotline")
    assert main.options["operator_name"][0] == 'Liceul "Nr. 1"'
    assert [v for v, _ in main.lists["upstream"]] == ["9.9.9.9", "149.112.112.112"]


@pytest.mark.parametrize("text,message", [
    ("config straja\n\toption 'x\n", "straja:2: cannot read this line"),
    ("option port '53'\n", "straja:1: option port comes before any config line"),
    ("config straja\n\tnonsense here\n", "straja:2: expected option NAME"),
])
def test_unreadable_lines_name_their_line(text: str, message: str) -> None:
    with pytest.raises(uci.UciError, match=message):
        uci.parse_uci(text, "straja")


def test_forward_mode_listens_on_loopback_and_trusts_dnsmasq() -> None:
    config = translate("")
    assert config["dns"]["listen"] == ["127.0.0.1:5353", "[::1]:5353"]
    assert config["access"]["trusted_forwarders"] == ["127.0.0.1", "::1"]
    assert config["access"]["allow"] == ["local"]
    assert "forward" not in config


def test_forward_mode_port() -> None:
    assert translate("\toption port '5300'\n")["dns"]["listen"] == [
        "127.0.0.1:5300", "[::1]:5300"]


def test_replace_mode_answers_on_the_lan_addresses_and_forwards_dhcp_names_to_dnsmasq() -> None:
    config = translate("\toption dnsmasq_mode 'replace'\n")
    assert config["dns"]["listen"] == [
        "127.0.0.1:53", "[::1]:53", "192.168.1.1:53", "[fd12:3456:789a::1]:53"]
    assert "trusted_forwarders" not in config["access"]
    assert config["forward"] == [
        {"domain": "lan", "upstreams": ["127.0.0.1:5354"]},
        {"domain": "1.168.192.in-addr.arpa", "upstreams": ["127.0.0.1:5354"]},
        {"domain": "0.0.0.0.a.9.8.7.6.5.4.3.2.1.d.f.ip6.arpa", "upstreams": ["127.0.0.1:5354"]},
    ]


def test_replace_mode_without_forward_support_in_this_build_leaves_it_out() -> None:
    without_forward = uci.supported_sections() - {"forward"}
    config = translate("\toption dnsmasq_mode 'replace'\n", supported=without_forward)
    assert "forward" not in config
    assert config["dns"]["listen"][0] == "127.0.0.1:53"


def test_replace_mode_answers_on_53_whatever_forward_modes_port_says() -> None:
    config = translate("\toption dnsmasq_mode 'replace'\n\toption port '5353'\n")
    assert {a.rsplit(":", 1)[1] for a in config["dns"]["listen"]} == {"53"}


def test_an_unknown_mode_is_refused() -> None:
    with pytest.raises(uci.UciError, match="straja:2: dnsmasq_mode is 'proxy'"):
        translate("\toption dnsmasq_mode 'proxy'\n")


def test_upstreams_come_from_the_wan_dhcp_never_from_loopback(tmp_path: Path) -> None:
    resolv = tmp_path / "resolv.conf.auto"
    resolv.write_text("# Interface wan\nnameserver 10.0.0.1\nnameserver 127.0.0.1\n"
                      "# Interface wan6\nnameserver 2001:db8::53\nnameserver ::1\n"
                      "nameserver 10.0.0.1\nsearch lan\n")
    assert uci.read_resolv_conf(resolv) == ["10.0.0.1", "2001:db8::53"]
    assert uci.read_resolv_conf(tmp_path / "missing") == []
    assert translate("")["upstreams"] == ["10.0.0.1:53", "[2001:db8::53]:53"]


def test_listed_upstreams_win_and_get_port_53_when_bare() -> None:
    config = translate("\tlist upstream '9.9.9.9'\n\tlist upstream '[2620:fe::fe]:53'\n"
                       "\tlist upstream '2620:fe::9'\n")
    assert config["upstreams"] == ["9.9.9.9:53", "[2620:fe::fe]:53", "[2620:fe::9]:53"]


def test_no_upstream_at_all_is_an_error_that_says_why() -> None:
    with pytest.raises(uci.UciError, match="no upstream: the WAN has no DHCP resolvers"):
        translate("", uci.RouterFacts())


def test_the_small_router_profile_options() -> None:
    config = translate("""\
        \toption workers '2'
        \toption state_dir '/overlay/straja'
        \toption counters_dir '/var/run/straja'
        \toption log_level 'debug'
        \toption cache_size '8MB'
        \toption cache_entries '20000'
        \toption query_log '1'
        \toption ui '0'
        \toption ui_port '8080'
        \toption enabled '1'
        \toption firewall '0'
        \toption flush_interval '5m'
        \toption query_log_storage 'database'
        \toption query_log_entries '2000'
        """)
    assert config["dns"]["workers"] == 2
    assert config["state_dir"] == "/overlay/straja"
    assert config["log"] == {"level": "debug"}
    assert config["cache"] == {"max_bytes": "8MB", "max_entries": 20000}
    assert config["query_log"] == {"enabled": True, "storage": "database",
                                   "memory_entries": 2000}
    assert config["admin"] == {"enabled": False, "flush_interval": "5m",
                               "listen": ["127.0.0.1:8080", "192.168.1.1:8080"]}


def test_a_loopback_lan_address_is_listed_once_for_the_admin_ui() -> None:
    facts = uci.RouterFacts(lan_ipv4=["127.0.0.1/8"], wan_resolvers=["10.0.0.1"])
    assert translate("", facts)["admin"]["listen"] == ["127.0.0.1:8053"]


def test_defaults_one_worker_state_on_flash_ui_on_query_log_off() -> None:
    config = translate("")
    assert config["dns"]["workers"] == 1
    assert config["state_dir"] == "/etc/straja/state"
    assert config["admin"]["enabled"] is True
    assert config["query_log"] == {"enabled": False, "storage": "memory"}


def test_flash_wear_defaults_database_writes_every_10_minutes_query_log_in_ram() -> None:
    config = translate("\toption query_log '1'\n")
    assert config["admin"]["flush_interval"] == "10m"
    assert config["query_log"] == {"enabled": True, "storage": "memory"}


def test_ui_and_query_log_are_left_out_where_this_build_has_no_admin_ui() -> None:
    config = translate("\toption ui '1'\n", supported={"dns", "upstreams"})
    assert "admin" not in config and "query_log" not in config


def test_access_blocking_and_local_overrides() -> None:
    config = translate("""\
        \tlist allow '192.168.0.0/16'
        \toption blocking_action 'nxdomain'
        \toption sinkhole_ipv4 '192.168.1.2'
        \toption sinkhole_ipv6 'fd00::2'
        \tlist local_allow 'school.example'
        \tlist local_deny 'games.example'
        """)
    assert config["access"]["allow"] == ["192.168.0.0/16"]
    assert config["blocking"] == {"action": "nxdomain",
                                  "sinkhole": {"ipv4": "192.168.1.2", "ipv6": "fd00::2"}}
    assert config["local"] == {"allow": ["school.example"], "deny": ["games.example"]}


def test_the_sinkhole_points_at_the_routers_stop_page_by_default() -> None:
    config = translate("")
    assert config["blocking"]["sinkhole"] == {"ipv4": "192.168.1.1",
                                              "ipv6": "fd12:3456:789a::1"}
    assert config["stop_page"]["listen"] == ["192.168.1.1:80", "[fd12:3456:789a::1]:80"]
    assert config["stop_page"]["https_reject"] == ["192.168.1.1:443",
                                                   "[fd12:3456:789a::1]:443"]


def test_stop_page_options() -> None:
    config = translate("""\
        \toption stop_page_https_reject '0'
        \toption deployment 'moldova'
        \toption language 'ro'
        \toption operator_name 'Liceul Teoretic Nr. 1'
        \toption contact 'it@school.example'
        \toption timezone 'Europe/Chisinau'
        """)
    page = config["stop_page"]
    assert "https_reject" not in page
    assert (page["deployment"], page["language"]) == ("moldova", "ro")
    assert (page["operator_name"], page["contact"]) == ("Liceul Teoretic Nr. 1",
                                                        "it@school.example")
    assert config["timezone"] == "Europe/Chisinau"


def test_stop_page_off_keeps_the_sinkhole_default() -> None:
    config = translate("\toption stop_page '0'\n")
    assert config["stop_page"] == {"enabled": False}
    assert "blocking" not in config


def test_list_sections_become_lists() -> None:
    config = translate("""\
        config straja 'main'
        config list 'hotline_csam'
        \toption id 'hotline-csam'
        \toption source 'https://lists.hotline.example/csam.sl'
        \toption tier 'mandatory'
        \toption format 'compiled'
        \tlist key 'RWQone'
        \tlist key 'RWQtwo'
        \toption refresh '1h'
        \toption action 'nxdomain'
        \toption category 'csam'
        config list 'ads'
        \toption source 'https://example.org/hosts.txt'
        \toption format 'hosts'
        \toption tier 'operator'
        \toption signed '0'
        \toption key 'RWQsingle'
        config list 'off'
        \toption enabled '0'
        \toption source 'x'
        \toption tier 'family'
        """)
    assert config["lists"] == [
        {"id": "hotline-csam", "source": "https://lists.hotline.example/csam.sl",
         "tier": "mandatory", "format": "compiled", "keys": ["RWQone", "RWQtwo"],
         "refresh": "1h", "action": "nxdomain", "category": "csam"},
        {"id": "ads", "source": "https://example.org/hosts.txt", "tier": "operator",
         "format": "hosts", "keys": ["RWQsingle"], "signed": False},
    ]


@pytest.mark.parametrize("text,message", [
    ("\toption colour 'red'\n", "straja:2: unknown option colour in config straja"),
    ("\tlist colour 'red'\n", "straja:2: unknown list colour"),
    ("\toption ui 'maybe'\n", "straja:2: ui is 'maybe'; write '1' or '0'"),
    ("\toption workers 'two'\n", "straja:2: workers is 'two'; write a whole number"),
    ("\tlist workers '2'\n", "straja:2: workers is an option, not a list"),
    ("config list\n\toption source 'x'\n\toption tier 'operator'\n",
     "straja:2: a list needs a name"),
    ("config list 'a'\n\toption tier 'operator'\n", "straja:2: list a needs option source"),
    ("config list 'a'\n\toption shade 'x'\n", "straja:3: unknown option shade in config list"),
    ("config dnsmasq 'x'\n", "straja:2: unknown section type dnsmasq"),
    ("\toption query_log_storage 'flash'\n",
     "straja:2: query_log_storage is 'flash'; write memory .RAM, lost on reboot. or database"),
    ("\toption flush_interval 'often'\n", "straja:2: flush_interval is 'often': 'often' is not"),
    ("\toption flush_interval '2h'\n", "straja:2: flush_interval is '2h'; write between 1s"),
])
def test_bad_options_are_errors_that_name_the_line(text: str, message: str) -> None:
    with pytest.raises(uci.UciError, match=message):
        translate(text)


def test_two_main_sections_are_refused() -> None:
    with pytest.raises(uci.UciError, match="exactly one 'config straja' section, found 2"):
        translate("config straja 'a'\nconfig straja 'b'\n")


def test_extra_yaml_is_merged_last(tmp_path: Path) -> None:
    extra = tmp_path / "extra.yaml"
    extra.write_text("dns:\n  max_udp_size: 1400\ngroups:\n  - name: staff\n")
    config = translate(f"\toption extra '{extra}'\n")
    assert config["dns"]["max_udp_size"] == 1400 and config["dns"]["workers"] == 1
    assert config["groups"] == [{"name": "staff"}]
    extra.write_text("- not a mapping\n")
    with pytest.raises(uci.UciError, match="must hold a mapping"):
        translate(f"\toption extra '{extra}'\n")


def test_reverse_zones_on_octet_and_nibble_boundaries() -> None:
    assert uci.reverse_zone("192.168.1.1/24") == "1.168.192.in-addr.arpa"
    assert uci.reverse_zone("10.1.2.3/8") == "10.in-addr.arpa"
    assert uci.reverse_zone("fd00::1/48") == "0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa"


def test_every_option_is_documented_in_the_shipped_file() -> None:
    text = SHIPPED.read_text()
    for name in uci.OPTIONS:
        assert f"option {name} " in text or f"list {name} " in text, name


def test_the_shipped_file_translates_and_passes_config_check(tmp_path: Path) -> None:
    resolv = tmp_path / "resolv.conf.auto"
    resolv.write_text("nameserver 10.0.0.1\n")
    out = tmp_path / "etc" / "config.yaml"
    code = uci.main(["--uci", str(SHIPPED), "--out", str(out), "--resolv", str(resolv),
                     "--lan", "192.168.1.1/24", "--lan", "fd12::1/64"])
    assert code == 0
    assert out.read_text().startswith("# Generated from")
    data = yaml.safe_load(out.read_text())
    data["state_dir"] = str(tmp_path / "state")  # the router's path is not ours to create
    out.write_text(yaml.safe_dump(data))
    load_config(out)
    run = straja_cli("config", "check", "--config", str(out))
    assert run.returncode == 0, run.stdout + run.stderr


def test_main_reports_a_bad_file_with_exit_78(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "straja"
    bad.write_text("config straja\n\toption colour 'red'\n")
    assert uci.main(["--uci", str(bad), "--out", str(tmp_path / "x.yaml")]) == 78
    assert "unknown option colour" in capsys.readouterr().err
    assert uci.main(["--uci", str(tmp_path / "none"), "--out", str(tmp_path / "x.yaml")]) == 78
