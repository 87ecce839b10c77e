"""``python -m app``: serve the studio with waitress, a production WSGI server.

Binds 127.0.0.1:5000 by default, so the studio is private to this machine until ``--host``
says otherwise; Flask's debugger is never on. The model is loaded and every resolution traced
before the port opens, so the first visitor does not wait for TensorFlow.
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Callable, Sequence

from progan.cli import Parser, run, whole_number
from progan.errors import ProganError
from progan.quiet import import_backend

PROG = "python -m app"


def build_parser() -> Parser:
    parser = Parser(prog=PROG, description="Serve ProGAN Studio (generate and interpolate pages).")
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to bind (default: %(default)s)"
    )
    parser.add_argument(
        "--port", type=whole_number(1, 65535), default=5000, help="(default: %(default)s)"
    )
    parser.add_argument(
        "--model",
        metavar="DIR",
        action="append",
        help="an export folder or a training run folder; repeat for several (the first is the "
        "default). Every model under checkpoints/ is served too.",
    )
    parser.add_argument(
        "--threads",
        type=whole_number(1, 64),
        default=4,
        help="requests rendered at once (default: %(default)s)",
    )
    return parser


class QueueDepthLog(logging.Filter):
    """Waitress warns ``Task queue depth is N`` on nearly every request while all threads are
    busy (thousands of lines under load); let one through per ``every_s`` seconds, naming the
    deepest queue seen since the last one."""

    def __init__(self, every_s: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.every_s = every_s
        self.clock = clock
        self.last: float | None = None
        self.deepest = 0

    def filter(self, record: logging.LogRecord) -> bool:
        depth = int(record.args[0]) if record.args else 0
        self.deepest = max(self.deepest, depth)
        now = self.clock()
        if self.last is not None and now - self.last < self.every_s:
            return False
        record.msg = "%d requests waiting for a server thread (at most %d since the last report)"
        record.args = (depth, self.deepest)
        self.last, self.deepest = now, 0
        return True


def check_address(host: str, port: int) -> None:
    """Bind and let go of ``host:port`` at once, so a taken port or a foreign address fails in
    one line before the models load and trace (a minute), not after."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(address)
    except OSError as err:
        raise address_error(host, port, err) from err


def address_error(host: str, port: int, err: OSError) -> ProganError:
    return ProganError(
        f"cannot serve on {host}:{port}: {err.strerror or err}; give another --port, or a --host "
        "of this machine"
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    check_address(args.host, args.port)
    import_backend()
    import waitress

    from app import create_app

    app = create_app({"MODEL_PATH": args.model or None, "SHIPPED_MODELS": True})
    models = app.extensions["progan_models"]
    models.warm_up()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("waitress.queue").addFilter(QueueDepthLog())
    names = ", ".join(models.holders)
    print(
        f"ProGAN Studio: models {names} (default {models.default.name}) at "
        f"http://{args.host}:{args.port}/",
        flush=True,
    )
    try:
        waitress.serve(app, host=args.host, port=args.port, threads=args.threads)
    except OSError as err:  # taken in the minute the models took to load
        raise address_error(args.host, args.port, err) from err
    return 0


if __name__ == "__main__":
    run(main)
