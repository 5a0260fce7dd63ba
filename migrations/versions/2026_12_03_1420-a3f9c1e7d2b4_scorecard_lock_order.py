"""scorecard lock order: an offer that moves a lead between program cells without moving it
between plain cells first locks the lead's plain cell, so every transaction takes a lead's plain
cells before its program cells (a claim and a route of two leads in one cell deadlocked)

Revision ID: a3f9c1e7d2b4
Revises: 7e4a2c9b1d58
Create Date: 2026-12-03 14:20:00.000000+00:00
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path

from alembic import op

revision: str = "a3f9c1e7d2b4"
down_revision: str | None = "7e4a2c9b1d58"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _offer_moves_before() -> str:
    """scorecard_offer_moves as the program cells' migration made it (the downgrade's and the base of this one)."""
    path = Path(__file__).with_name("2026_12_03_1330-7e4a2c9b1d58_scorecard_program_cells.py")
    spec = importlib.util.spec_from_file_location("program_cells_migration", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    [moves] = [f for f in module.LEAD_FUNCTIONS if f.startswith("CREATE FUNCTION scorecard_offer_moves")]
    return str(moves).replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1)


MOVES_PROGRAMS_ONLY = """         IF (others OR was) <> (others OR now_) THEN
           PERFORM scorecard_lead_add(lead, others OR was, -1);
           PERFORM scorecard_lead_add(lead, others OR now_, 1);
         END IF;"""
# Adding 0 to the cell the lead is counted in (it is there: the lead is) takes that row's lock.
LOCK_PLAIN_CELL_FIRST = """         IF (others OR was) <> (others OR now_) THEN
           PERFORM scorecard_lead_add(lead, others OR was, -1);
           PERFORM scorecard_lead_add(lead, others OR now_, 1);
         ELSE
           PERFORM scorecard_lead_add(lead, others OR was, 0);
         END IF;"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        before = _offer_moves_before()
        assert MOVES_PROGRAMS_ONLY in before
        op.execute(before.replace(MOVES_PROGRAMS_ONLY, LOCK_PLAIN_CELL_FIRST))


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_offer_moves_before())
