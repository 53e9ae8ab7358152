"""A CLI command run as root works as the owner of state_dir (the `straja` user that the
service runs as), so a root-run `straja lists update` or `users add` never leaves files in
state_dir that the service cannot write. The config is read before the drop: it is
root:straja 0640, readable by both.
"""

from __future__ import annotations

import logging
import os
import pwd
from pathlib import Path

log = logging.getLogger("straja.privileges")


def become_state_owner(state_dir: Path) -> bool:
    """As root, switch to the user and groups that own `state_dir`, if that is not root.

    Returns whether the process switched. Nothing changes for a non-root caller, a missing
    state_dir or one owned by root (a development checkout run with sudo).
    """
    if os.geteuid() != 0:
        return False
    try:
        st = state_dir.stat()
    except OSError:
        return False
    if st.st_uid == 0:
        return False
    try:
        name = pwd.getpwuid(st.st_uid).pw_name
        os.initgroups(name, st.st_gid)
    except (KeyError, OSError):
        os.setgroups([st.st_gid])
    os.setgid(st.st_gid)
    os.setuid(st.st_uid)
    log.debug("working as uid %d, the owner of %s", st.st_uid, state_dir)
    return True
