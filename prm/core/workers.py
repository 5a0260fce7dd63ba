"""`prm serve --workers N`: uvicorn's supervisor, letting go of the listening socket on SIGTERM.

The parent binds the socket and its workers inherit it; each worker drains on SIGTERM
(prm/core/lifecycle.py) and then closes its copy. uvicorn's parent keeps its own copy open
until it exits, after the last in-flight request, so meanwhile the kernel still completes new
connections that no worker will ever take: a load balancer's request hangs there, then is
reset. Closing the parent's copy once it has passed SIGTERM on to the workers leaves the
socket to them, so a new connection is refused as soon as every worker has stopped accepting.
"""

from __future__ import annotations

from uvicorn.supervisors.multiprocess import Multiprocess


class Supervisor(Multiprocess):
    def terminate_all(self) -> None:
        """SIGTERM to each worker (uvicorn's, once, on shutdown), then the parent's sockets closed:
        it starts no worker any more."""
        super().terminate_all()
        for sock in self.sockets:
            sock.close()
