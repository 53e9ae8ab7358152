"""Start to first answer stays short: the serving path imports no web, database or crypto code."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.servers import straja_env


def test_serving_path_imports_nothing_heavy() -> None:
    code = (
        "import sys, json\n"
        "import admin.cli, admin.commands.serve, admin.worker, resolver.server\n"
        "print(json.dumps(sorted(m for m in ('aiohttp', 'sqlalchemy', 'cryptography', "
        "'urllib.request', 'idna') if m in sys.modules)))\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=straja_env(), check=True)
    assert json.loads(run.stdout) == []
