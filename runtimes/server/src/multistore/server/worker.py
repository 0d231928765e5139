"""A worker process of ``--workers N``: ``python -m multistore.server.worker``.

Started by the supervisor with one end of a socket pair as stdin, over which it receives
its settings and reports back (``multistore.server.worker_link``).
"""

from __future__ import annotations

import sys

from multistore.server.worker_link import WorkerLink


def main() -> int:
    link = WorkerLink(fd=0)
    try:
        settings = link.settings()
    except EOFError:
        return 1  # the supervisor went away before handing over the settings
    from multistore.server.cli import run_worker

    run_worker(settings, reuse_port=True, link=link)
    return 0


if __name__ == "__main__":
    sys.exit(main())
