"""The baseline: a bare Tornado app answering ``GET /`` with ``{"status":"ok"}``.

Run as ``python bench/bare_tornado.py --port P`` by the harness. No logging is
configured (so no access log), no database: the cheapest a Tornado handler gets.
SIGTERM stops it cleanly with exit code 0, like our server.
"""

from __future__ import annotations

import argparse
import asyncio
import signal

import tornado.web


class HelloHandler(tornado.web.RequestHandler):
    """``GET /``."""

    def get(self) -> None:
        self.write({"status": "ok"})


async def main(host: str, port: int) -> None:
    app = tornado.web.Application([(r"/", HelloHandler)])
    server = app.listen(port, host)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    server.stop()
    try:
        await asyncio.wait_for(server.close_all_connections(), 5)
    except TimeoutError:
        pass


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    asyncio.run(main(args.host, args.port))
