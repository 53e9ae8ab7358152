"""Run inside `unshare -rm` by test_faults: state_dir on a tiny tmpfs, a list activated,
the disk filled, a bigger version offered. Prints the outcome as JSON."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from blocklists.errors import ListError
from blocklists.spec import ListSpec
from blocklists.store import ListStore
from blocklists.trie import CompiledList

state, small, big, key = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]), sys.argv[4]
spec = ListSpec(id="school", source=str(small), tier="operator", keys=[key])
store = ListStore(state)
sig = small.with_name(small.name + ".minisig").read_text()
store.activate(spec, small, sig)
filler = state / "filler"
with open(filler, "wb") as f:  # fill the disk, leaving less than the big version needs
    try:
        while True:
            f.write(b"\0" * 65536)
            f.flush()
    except OSError:
        pass
filler.write_bytes(filler.read_bytes()[: -3 * 65536])  # a few blocks free: enough for status
outcome: dict[str, object] = {}
try:
    store.activate(spec, big, big.with_name(big.name + ".minisig").read_text())
    outcome["activated"] = True
except ListError as exc:
    outcome["refused"] = str(exc)
with CompiledList.open(store.active_path("school")) as lst:
    outcome["serial"] = lst.header.serial
outcome["files"] = sorted(p.name for p in store.list_dir("school").iterdir())
outcome["status"] = store.status("school")
filler.unlink()
store.activate(spec, big, big.with_name(big.name + ".minisig").read_text())
with CompiledList.open(store.active_path("school")) as lst:
    outcome["serial_after"] = lst.header.serial
print(json.dumps(outcome))
