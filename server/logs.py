"""Logging: one JSON object per line (human-readable on a terminal), never secrets."""

from __future__ import annotations

import json
import logging
import sys
import time

_STD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}
_SECRET_KEYS = ("password", "token", "authorization", "secret")


def _clean(key: str, value: object) -> object:
    return "[redacted]" if any(s in key.lower() for s in _SECRET_KEYS) else value


class JsonFormatter(logging.Formatter):
    def __init__(self, node: str) -> None:
        super().__init__()
        self.node = node

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, object] = {
            "t": round(time.time(), 3), "level": record.levelname.lower(),
            "logger": record.name, "node": self.node, "msg": record.getMessage(),
        }
        for k, v in vars(record).items():
            if k not in _STD and not k.startswith("_"):
                out[k] = _clean(k, v)
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


class HumanFormatter(logging.Formatter):
    """For a terminal: time, level, logger, message, then the same fields as key=value."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = " ".join(f"{k}={_clean(k, v)}" for k, v in vars(record).items()
                          if k not in _STD and not k.startswith("_"))
        if not fields:
            return line
        head, sep, rest = line.partition("\n")  # a traceback stays below
        return f"{head}  {fields}{sep}{rest}"


def setup_logging(level: str, node: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if sys.stderr.isatty():
        handler.setFormatter(HumanFormatter())
    else:
        handler.setFormatter(JsonFormatter(node))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("hypercorn", "quart", "asyncio", "pgserver", "PIL"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
