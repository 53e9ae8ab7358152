"""`python -m admin.compile_job JSON`: compile one source list in a process of its own.

The list manager runs this so compiling (which needs memory in proportion to the list)
never happens inside a serving one. The compile summary (blocklists.summary) is printed as
one JSON line on stdout; a failure exits 1 with the reason on the last line of stderr.
"""

from __future__ import annotations

import json
import sys

from blocklists.compiled import ListMetadata, compile_source
from blocklists.errors import ListError
from blocklists.summary import compile_summary


def main(argv: list[str]) -> int:
    job = json.loads(argv[1])
    metadata = ListMetadata(
        list_id=job["list_id"],
        serial=int(job["serial"]),
        tier=job["tier"],
        category=job.get("category"),
        expires=job.get("expires"),
        kind=job.get("kind", "block"),
    )
    try:
        result = compile_source(job["source"], job["format"], job["output"], metadata,
                                origins=job.get("origins"))
    except (ListError, OSError) as exc:
        print(str(exc), file=sys.stderr)
        return 1
    summary = compile_summary(result.report) if result.report is not None else {}
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    from admin import importtrace

    importtrace.install()  # STRAJA_IMPORT_TRACE (inherited from the straja process)
    sys.exit(main(sys.argv))
