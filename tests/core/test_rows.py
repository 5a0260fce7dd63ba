"""Rows read by column name into typed structures (prm.core.rows), on real rows of the test database."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, NamedTuple

import msgspec
import pytest
from litestar import Litestar
from sqlalchemy import select

from prm.core.db import Database
from prm.core.rows import MissingColumns, fetch_rows, read_row, read_rows
from prm.crm.models import Partner, PartnerTier
from prm.crm.repository import PartnerStanding, _partner_standing
from prm.lead_distribution.repository.routing import RosterRow, _program, _roster, _rules
from prm.lead_distribution.service.eligibility import ProgramTerms
from prm.lead_distribution.service.lookups import ActiveRule


class Named(msgspec.Struct, frozen=True, gc=False):
    id: uuid.UUID
    name: str
    tier: PartnerTier


@dataclass(frozen=True)
class NamedData:
    name: str
    id: uuid.UUID


class NamedTuplePair(NamedTuple):
    tier: PartnerTier
    name: str


@pytest.fixture
async def db(app: Litestar) -> Database:
    database: Database = app.state.db
    async with database.unit_of_work() as session:
        session.add_all(
            [
                Partner(name="Acme Resellers", tier=PartnerTier.GOLD, country="US", active=True),
                Partner(name="Globex Integrators", tier=PartnerTier.SILVER, country="DE", active=True),
            ]
        )
    return database


async def test_fields_are_filled_by_label_whatever_the_column_order(db: Database) -> None:
    async with db.session() as session:
        # The columns in another order than the fields, and one more than they need.
        stmt = select(Partner.tier, Partner.country, Partner.name, Partner.id).order_by(Partner.name)
        rows = (await session.execute(stmt)).all()
        structs = read_rows(Named, rows)
        plain = read_rows(NamedData, rows)
        pairs = read_rows(NamedTuplePair, rows)
        fetched = await fetch_rows(session, Named, stmt)
    assert [(s.name, s.tier) for s in structs] == [
        ("Acme Resellers", PartnerTier.GOLD),
        ("Globex Integrators", PartnerTier.SILVER),
    ]
    assert [(d.name, d.id) for d in plain] == [(s.name, s.id) for s in structs]
    assert pairs == [(PartnerTier.GOLD, "Acme Resellers"), (PartnerTier.SILVER, "Globex Integrators")]
    assert fetched == structs
    assert read_row(Named, rows[1]) == structs[1]


async def test_a_missing_or_mislabelled_column_is_refused_by_name(db: Database) -> None:
    async with db.session() as session:
        missing = (await session.execute(select(Partner.id, Partner.name))).all()
        mislabelled = (await session.execute(select(Partner.id, Partner.name, Partner.tier.label("grade")))).all()
        with pytest.raises(MissingColumns, match=r"Named needs the column\(s\) tier"):
            read_rows(Named, missing)
        with pytest.raises(MissingColumns, match=r"tier; the row has id, name, grade"):
            read_row(Named, mislabelled[0])
        # Checked from the statement's labels, even when no row comes back.
        with pytest.raises(MissingColumns, match="tier"):
            await fetch_rows(session, Named, select(Partner.id, Partner.name).where(Partner.name == "nobody"))
        # Two columns swapped under each other's labels fill the fields their labels name.
        swapped = (await session.execute(select(Partner.name.label("id"), Partner.id.label("name")))).all()
        assert isinstance(read_row(NamedData, swapped[0]).name, uuid.UUID)


async def test_given_fields_and_prefixed_labels(db: Database) -> None:
    async with db.session() as session:
        stmt = select(Partner.id.label("p_id"), Partner.name.label("p_name")).order_by(Partner.name)
        row = (await session.execute(stmt)).first()
        assert row is not None
        named = read_row(Named, row, prefix="p_", tier=PartnerTier.PLATINUM)
        assert (named.id, named.name, named.tier) == (row.p_id, "Acme Resellers", PartnerTier.PLATINUM)
        with pytest.raises(MissingColumns, match="p_tier"):
            read_row(Named, row, prefix="p_")


def test_routing_statements_select_every_field_of_their_rows() -> None:
    """The hot path's statements against the structures their rows are read into."""

    def labels(stmt: Any) -> set[str]:
        return set(stmt.selected_columns.keys())

    terms = {f"program_{name}" for name in ProgramTerms.__dataclass_fields__}
    rule = set(ActiveRule.__dataclass_fields__) - {"program"}
    assert terms <= labels(_program())
    assert terms | rule <= labels(_rules())
    for kind in ("program", "group", "partner"):
        for one_lead in (True, False):
            assert set(RosterRow.__struct_fields__) <= labels(_roster(kind, one_lead))
    for postgres in (True, False):
        assert set(PartnerStanding.__struct_fields__) <= labels(_partner_standing(postgres=postgres))
