"""Whether this machine lets a test make namespaces of its own with unshare(1).

A chroot cannot (the kernel refuses a new user namespace to a chrooted process), nor can a
container without the privilege, so the tests that need one skip there with that reason;
where util-linux is missing altogether they say so.
"""

from __future__ import annotations

import functools
import shutil
import subprocess


@functools.cache
def unshare_permitted(flags: str) -> bool:
    """`unshare FLAGS true` works here (flags such as "-rn", "-rm", "-mn")."""
    if shutil.which("unshare") is None:
        return False
    return subprocess.run(["unshare", flags, "true"], capture_output=True).returncode == 0
