"""A newcomer's first run: the example config blocks the demo name on the first dig."""

from __future__ import annotations

import subprocess

import yaml

from tests.servers import REPO


def test_example_config_blocks_the_demo_name_on_the_first_dig(straja_factory, unbound) -> None:
    config = yaml.safe_load((REPO / "config.example.yaml").read_text())
    config.pop("dns")  # a free loopback port instead of 5353
    config.pop("state_dir")
    config["upstreams"] = [unbound.address]  # never the public resolvers from a test
    for spec in config["lists"]:
        spec["source"] = str(REPO / spec["source"])
    s = straja_factory(config)
    out = subprocess.run(
        ["dig", f"@{s.host}", "-p", str(s.port), "ads.straja-demo.example", "+tries=1"],
        capture_output=True, text=True, timeout=30,
    ).stdout
    assert "ads.straja-demo.example. 60\tIN\tA\t0.0.0.0" in out
    assert "EDE: 15 (Blocked): (straja-demo)" in out
