"""The `admin:` and `query_log:` config sections: defaults, and errors naming key and line."""

from __future__ import annotations

import socket

import pytest

from admin.config import ConfigError, load_config_text
from admin.store import database_url

BASE = "upstreams: ['127.0.0.2:53']\nstate_dir: /var/lib/straja\n"


def test_defaults_keep_the_ui_local_and_the_query_log_off() -> None:
    config = load_config_text(BASE)
    assert [str(a) for a in config.admin.listen] == ["127.0.0.1:8053"]
    assert config.admin.enabled and config.admin.metrics_auth == "token"
    assert config.admin.node_id == socket.gethostname()
    assert database_url(config) == "sqlite:////var/lib/straja/straja.db"
    assert not config.query_log.enabled
    assert config.query_log.retention == 7 * 86400


@pytest.mark.parametrize(("text", "expected"), [
    ("admin:\n  database: straja.db\n", "<config>:3: admin: database 'straja.db' is not a"),
    ("admin:\n  tls_cert: a.pem\n", "<config>:3: admin: tls_cert and tls_key go together"),
    ("admin:\n  metrics_auth: open\n", "<config>:4: admin.metrics_auth: 'open' is not one of"),
    ("admin:\n  listen: ['localhost']\n", "<config>:4: admin.listen[0]:"),
    ("query_log:\n  level: 3\n", "<config>:4: query_log.level: 3 is not one of: 0, 1, 2"),
    ("query_log:\n  retention: forever\n", "<config>:4: query_log.retention: 'forever'"),
])
def test_bad_values_name_the_key_and_line(text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as error:
        load_config_text(BASE + text)
    assert str(error.value).startswith(expected)
