"""Query plans of what the service really runs: capture the SQL a service function sends, then
EXPLAIN it with the same parameters (EXPLAIN ANALYZE on PostgreSQL, EXPLAIN QUERY PLAN plus a
timed run on SQLite), so a plan in the report is never of a hand-copied query.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

_FROM = re.compile(r"\bFROM\s+(\w+)", re.IGNORECASE)
_EXECUTION = re.compile(r"Execution Time: ([\d.]+) ms")
_NODE = re.compile(r"^\s*(?:->\s*)?([A-Z][^(]*?)\s+\(cost")
_ALIAS = re.compile(r"( on \w+) \w+$")


@dataclass(frozen=True)
class Statement:
    sql: str
    parameters: Any

    @property
    def table(self) -> str:
        found = _FROM.search(self.sql)
        return found.group(1) if found else "?"


@dataclass(frozen=True)
class Plan:
    statement: Statement
    milliseconds: float
    summary: str  # the plan's nodes, outermost first
    text: str


@contextlib.contextmanager
def captured(engine: AsyncEngine) -> Iterator[list[Statement]]:
    """Every SELECT sent through `engine` while the block runs."""
    seen: list[Statement] = []

    def listen(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, many: bool) -> None:
        if not many and statement.lstrip().upper().startswith("SELECT"):
            seen.append(Statement(statement, parameters))

    event.listen(engine.sync_engine, "before_cursor_execute", listen)
    try:
        yield seen
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", listen)


async def statements_of(
    engine: AsyncEngine, session: AsyncSession, call: Callable[[AsyncSession], Awaitable[Any]]
) -> list[Statement]:
    with captured(engine) as seen:
        await call(session)
    return list(seen)


async def explain(session: AsyncSession, statement: Statement, *, postgres: bool) -> Plan:
    """Run twice and keep the second (warm cache), as a query run many times a second would be."""
    connection = await session.connection()
    for _ in range(2):
        if postgres:
            rows = await connection.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + statement.sql, statement.parameters)
            text = "\n".join(row[0] for row in rows)
            found = _EXECUTION.search(text)
            milliseconds = float(found.group(1)) if found else float("nan")
            nodes = [_ALIAS.sub(r"\1", m.group(1)) for line in text.splitlines() if (m := _NODE.match(line))]
            summary = " > ".join(nodes)
        else:
            rows = await connection.exec_driver_sql("EXPLAIN QUERY PLAN " + statement.sql, statement.parameters)
            details = [str(row[3]) for row in rows]
            text = "\n".join(details)
            summary = " > ".join(details)
            started = time.perf_counter()
            (await connection.exec_driver_sql(statement.sql, statement.parameters)).fetchall()
            milliseconds = (time.perf_counter() - started) * 1000
    return Plan(statement, milliseconds, summary, text)
