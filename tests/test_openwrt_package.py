"""The OpenWrt feed package: its Makefile parses and expands under make with stand-ins for
the build system's include files (an OpenWrt SDK is not available here), its DEPENDS and
bundled wheels are complete, and its capabilities grant CAP_NET_BIND_SERVICE only."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.servers import REPO

PACKAGE = REPO / "deploy" / "openwrt"

# Just enough of rules.mk, package.mk, pypi.mk and python3-package.mk for the Makefile to
# be read and every macro it calls to be expanded; each stand-in prints what it was given.
STUBS = {
    "rules.mk": """\
INSTALL_DIR:=install -d -m0755
INSTALL_BIN:=install -m0755
INSTALL_DATA:=install -m0644
INSTALL_CONF:=install -m0600
HOST_PYTHON3_BIN:=python3
PKG_INSTALL_DIR:=/build/ipkg-install
DL_DIR:=/dl
""",
    "include/package.mk": """\
define BuildPackage
$$(eval $$(Package/$(1)))
$$(info package=$(1) depends=$$(strip $$(DEPENDS)) userid=$$(USERID) section=$$(SECTION))
$$(info conffiles=$$(strip $$(Package/$(1)/conffiles)))
endef
define Download
$$(eval $$(Download/$(1)))
$$(info download=$(1) file=$$(FILE) hash=$$(HASH) url=$$(URL))
endef
compile: ; $(Build/Compile)
install: ; $(call Py3Package/straja/install,/root)
""",
    "feeds/packages/lang/python/pypi.mk": "PKG_SOURCE?=$(PYPI_NAME)-$(PKG_VERSION).tar.gz\n",
    "feeds/packages/lang/python/python3-package.mk": """\
define Py3Build/Compile/Default
	echo py3build $(PKG_NAME)
endef
define Py3Package
$$(info py3package=$(1))
endef
""",
}


@pytest.fixture
def topdir(tmp_path: Path) -> Path:
    for name, text in STUBS.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


def make(topdir: Path, *targets: str) -> str:
    run = subprocess.run(
        ["make", "-n", "-C", str(PACKAGE), f"TOPDIR={topdir}", f"INCLUDE_DIR={topdir}/include",
         *targets], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr
    return run.stdout


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_makefile_parses_and_declares_the_package(topdir: Path) -> None:
    out = make(topdir, "compile", "install")
    package = re.search(r"^package=straja depends=(.*) userid=(\S+) section=(\S+)$", out, re.M)
    assert package, out
    depends = package.group(1).split()
    assert depends[0] == "+python3-light"
    assert {"+python3-asyncio", "+python3-openssl", "+python3-yaml", "+python3-click",
            "+python3-cryptography", "+python3-idna", "+zoneinfo-all"} <= set(depends)
    assert package.group(2) == "straja=453:straja=453" and package.group(3) == "net"
    assert "py3package=straja" in out
    assert "/etc/config/straja" in out  # conffiles
    downloads = re.findall(r"^download=straja-(\S+) file=(\S+) hash=([0-9a-f]{64}) url=(\S+)$",
                           out, re.M)
    assert {d[0] for d in downloads} >= {"aiohttp", "multidict", "yarl", "propcache",
                                          "frozenlist", "dnslib"}
    for _, wheel, _, url in downloads:
        assert wheel.endswith("-py3-none-any.whl"), wheel  # pure Python only
        assert url.startswith("https://files.pythonhosted.org/packages/py3/")
        installs = f'-m installer --destdir "/build/ipkg-install" --prefix /usr "/dl/{wheel}"'
        assert installs in out
    for installed in ("/root/etc/init.d/straja", "/root/etc/config/straja",
                      "/root/etc/capabilities/straja.json", "/root/usr/share/straja/"):
        assert installed in out, installed


def test_capabilities_grant_cap_net_bind_service_only() -> None:
    caps = json.loads((PACKAGE / "files" / "straja-capabilities.json").read_text())
    assert set(caps) == {"bounding", "effective", "ambient", "permitted", "inheritable"}
    assert all(value == ["CAP_NET_BIND_SERVICE"] for value in caps.values())


def test_init_script_runs_as_straja_with_no_new_privs_respawn_and_triggers() -> None:
    text = (PACKAGE / "files" / "straja.init").read_text()
    for needed in ("procd_set_param user straja", "procd_set_param group straja",
                   "procd_set_param no_new_privs 1",
                   "procd_set_param capabilities /etc/capabilities/straja.json",
                   "procd_set_param respawn ", "procd_add_reload_trigger straja",
                   'procd_add_interface_trigger "interface.*.up" lan',
                   'config check --config "$CONF.new"'):
        assert needed in text, needed
    # The translated config is checked before it replaces the running one.
    assert text.index("config check") < text.index('mv "$CONF.new" "$CONF"')
