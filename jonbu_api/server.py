"""The uvicorn server the CLI runs the API under: :class:`Server`.

Two things plain ``uvicorn.Server`` does not do:

* **Shutdown closes WebSockets with 1001.** uvicorn's shutdown stops listening, then
  closes every open WebSocket itself with 1012 (*service restart*) and only later runs
  the app's lifespan shutdown, so the hub never got to say goodbye. Here the hubs of
  this process close their clients with 1001 (*going away*) first, then uvicorn's
  shutdown proceeds as usual.
* **GC tuned after startup.** Full (generation 2) collections stopped the event loop for
  100-250 ms every few seconds under the WebSocket fan-out (1,000 clients, 10,000
  messages/s in ``bench/api.py``): that, with a busy machine, was the p99 of delivery.
  Everything allocated while importing and starting is moved to the permanent
  generation (:func:`gc.freeze`: full collections no longer scan it) and the collection
  thresholds are raised (:func:`jonbu_core.heap.freeze_gc`), so full collections become rare.
"""

from __future__ import annotations

import contextlib
import logging
import socket

import uvicorn

from jonbu_api.hub import going_away
from jonbu_core.heap import freeze_gc

logger = logging.getLogger(__name__)

GOING_AWAY_TIMEOUT = 3.0
"""Seconds shutdown waits for the 1001 close frames to get out before uvicorn's own close."""


class Server(uvicorn.Server):
    """``uvicorn.Server`` that closes WebSocket clients with 1001 on shutdown and freezes the GC
    once started (see the module docstring). Use it wherever ``uvicorn.Server`` was used."""

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        """uvicorn's startup (lifespan, listening sockets), then :func:`freeze_gc`."""
        await super().startup(sockets)
        if self.started:
            freeze_gc()

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        """Stop listening, close WebSocket clients with 1001, then uvicorn's shutdown."""
        for server in self.servers:
            server.close()
        try:
            n = await going_away(GOING_AWAY_TIMEOUT)
        except Exception as exc:  # never let this stand in the way of shutting down
            logger.warning("closing WebSocket clients before shutdown failed: %s", exc)
        else:
            if n:
                logger.info("closed %d WebSocket client(s) with 1001 (going away)", n)
        await super().shutdown(sockets)


def run(config: uvicorn.Config) -> None:
    """Run ``config`` like :func:`uvicorn.run` does, with :class:`Server`.

    With ``workers > 1`` uvicorn's multiprocess supervisor starts plain ``uvicorn.Server``
    workers (it offers no way to pass a class): those close WebSockets with 1012 on shutdown.
    """
    if config.workers > 1:
        from uvicorn.supervisors import Multiprocess

        sock = config.bind_socket()
        Multiprocess(config, sockets=[sock]).run()
        return
    server = Server(config)
    with contextlib.suppress(KeyboardInterrupt):
        server.run()
    if not server.started:
        raise SystemExit(3)  # uvicorn's STARTUP_FAILURE
