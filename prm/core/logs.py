"""Structured logs: one JSON event a line on stderr, each carrying the request id of the work.

Every logger (prm's own, uvicorn's access and error logs, SQLAlchemy, APScheduler) goes
through one structlog formatter, so a log shipper reads one format. The request id is a
context variable (`prm.core.request_id.bind_request_id`): set for each HTTP request, for each
timer run, and for each outbox delivery from the id stored on its row, so one id links the
request, the email or webhook it caused, and the peer instance's handling of a connector
message (which receives it as `X-Request-ID`).
"""

from __future__ import annotations

import logging
import logging.config
from typing import Any

import structlog

# Stamped on every event, stdlib records included (before the renderer).
_SHARED: list[Any] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_logger_name,
    structlog.stdlib.add_log_level,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
    structlog.stdlib.ExtraAdder(),
]


def _renderer(log_format: str) -> Any:
    if log_format == "text":
        return structlog.dev.ConsoleRenderer(colors=False)
    return structlog.processors.JSONRenderer()


def logging_config(log_format: str, level: str = "info") -> dict[str, Any]:
    """A `logging.config.dictConfig` dict (uvicorn applies it in every worker process)."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "structured": {
                "()": structlog.stdlib.ProcessorFormatter,
                "foreign_pre_chain": _SHARED,
                "processors": [
                    structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    structlog.processors.format_exc_info,
                    _renderer(log_format),
                ],
            }
        },
        # A plain stream handler, not a queue: the formatter must run in the thread (and
        # context) that logged, or the request id in the context variables is lost.
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "structured"}},
        "root": {"handlers": ["stderr"], "level": level.upper()},
        "loggers": {
            "uvicorn": {"handlers": [], "propagate": True},
            "uvicorn.error": {"handlers": [], "propagate": True},
            "uvicorn.access": {"handlers": [], "propagate": True},
            # APScheduler logs every job start and end and httpx every request at INFO: noise
            # next to prm's own lines (a job that acted on rows, a dead letter).
            "apscheduler": {"level": "WARNING"},
            "httpx": {"level": "WARNING"},
        },
    }


def configure_structlog() -> None:
    """structlog's own loggers render through the same stdlib handler."""
    structlog.configure(
        processors=[*_SHARED, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )


def configure_logging(log_format: str, level: str = "info") -> None:
    logging.config.dictConfig(logging_config(log_format, level))
    configure_structlog()
