"""Rule-level tests of deal registration, through the services on the real database and the
injected clock: the state machine, the protection clocks and the margin-credit ledger."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select

from prm.core.clock import ManualClock
from prm.core.errors import Conflict
from prm.credits.models import Credit
from prm.deal_registration.models import DealRegistration, RegistrationState
from prm.deal_registration.schemas import Approve, ProgramUpdate, ProofDecision
from prm.deal_registration.service import closing, programs, protection, review
from prm.deal_registration.service.state import ALLOWED, ensure_state
from tests.conftest import World
from tests.factories.service import approved, make_products, make_program, principal, register

S = RegistrationState
PDF = b"%PDF-1.4\n%%EOF\n"


@pytest.mark.parametrize("action", sorted(ALLOWED))
def test_each_action_starts_only_from_its_states_and_names_the_current_one(action: str) -> None:
    allowed, _ = ALLOWED[action]
    for state in S:
        registration = DealRegistration(number="DR-RULE", state=state)
        if state in allowed:
            ensure_state(registration, action, allowed)
            continue
        with pytest.raises(Conflict) as refused:
            ensure_state(registration, action, allowed)
        assert refused.value.extra == {"current_state": state.value}


def test_the_machine_ends_where_the_product_says() -> None:
    targets = {action: target for action, (_, target) in ALLOWED.items()}
    assert targets == {
        "submit": S.SUBMITTED,
        "cancel": S.CANCELLED,
        "approve": S.APPROVED,
        "reject": S.REJECTED,
        "close_won": S.WON,
        "close_lost": S.LOST,
    }
    # Nothing leaves a final state (expiry is the timer's, from approved only).
    finals = {S.REJECTED, S.EXPIRED, S.WON, S.LOST, S.CANCELLED}
    assert all(not (allowed & finals) for allowed, _ in ALLOWED.values())


async def test_protection_runs_reminds_and_expires_by_the_clock_once(world: World, clock: ManualClock) -> None:
    async with world.db.unit_of_work() as session:
        products = await make_products(session, world.admin)
        program = await make_program(session, world.admin, protection_days=30, reminder_days=5)
        registration = await approved(session, world.pa_user, world.cm_a, program, products)
        registration_id, expires_at = registration.id, registration.expires_at
    assert expires_at == clock.now() + timedelta(days=30)

    async def run(job: str) -> int:
        async with world.db.unit_of_work() as session:
            timers = {
                "remind": protection.send_expiry_reminders,
                "expire": protection.expire_registrations,
            }
            return await timers[job](session, clock.now())

    clock.advance(timedelta(days=25) - timedelta(seconds=1))
    assert (await run("remind"), await run("expire")) == (0, 0)
    clock.advance(timedelta(seconds=1))
    assert (await run("remind"), await run("remind"), await run("expire")) == (1, 0, 0)
    clock.advance(timedelta(days=5) - timedelta(seconds=1))
    assert await run("expire") == 0
    clock.advance(timedelta(seconds=1))
    assert (await run("expire"), await run("expire")) == (1, 0)
    async with world.db.session() as session:
        row = await session.get_one(DealRegistration, registration_id)
        assert (row.state, row.expired_at) == (S.EXPIRED, clock.now())


async def test_an_ended_protection_stops_holding_the_customer_before_the_timer_runs(
    world: World, clock: ManualClock
) -> None:
    async with world.db.unit_of_work() as session:
        products = await make_products(session, world.admin)
        program = await make_program(session, world.admin, protection_days=10)
        await approved(session, world.pa_user, world.cm_a, program, products)
        rival = await register(session, world.pb_user, program, products, customer_name="Umbrella Corp")
        rival_id = rival.id
        holders = review.protection_holders(rival, await review.conflicts_now(session, rival))
        assert len(holders) == 1
    clock.advance(timedelta(days=10))
    async with world.db.unit_of_work() as session:
        rival = await session.get_one(DealRegistration, rival_id)
        assert review.protection_holders(rival, await review.conflicts_now(session, rival)) == []
        decided = await review.approve(
            session,
            principal=principal(world.cm_b),
            registration_id=rival_id,
            data=Approve(expected_version=rival.version),
        )
        assert decided.state is S.APPROVED


async def test_the_credit_ledger_pays_the_margin_approved_under_once(world: World, clock: ManualClock) -> None:
    async with world.db.unit_of_work() as session:
        products = await make_products(session, world.admin)
        program = await make_program(session, world.admin, margin_bps=250)
        registration = await approved(session, world.pa_user, world.cm_a, program, products)
        registration_id, program_id = registration.id, program.id
    async with world.db.unit_of_work() as session:  # the program pays more from now on
        program = await programs.get_program(session, principal=principal(world.admin), program_id=program_id)
        update = ProgramUpdate(expected_version=program.version, margin_bps=900)
        await programs.update_program(session, principal=principal(world.admin), program_id=program_id, data=update)
    clock.advance(timedelta(days=20))
    async with world.db.unit_of_work() as session:
        registration = await session.get_one(DealRegistration, registration_id)
        proof = closing.Proof(
            invoice_number="INV-1",
            purchase_order_number=None,
            amount_minor=40_001_00,
            proof_date=date(2026, 3, 20),
            filename="invoice.pdf",
            content=PDF,
        )
        won = await closing.close_won(
            session,
            principal=principal(world.pa_user),
            registration_id=registration_id,
            expected_version=registration.version,
            proof=proof,
        )
        decision = ProofDecision(expected_version=won.version, approve=True)
        await closing.decide_proof(
            session, principal=principal(world.cm_a), registration_id=registration_id, data=decision
        )
    async with world.db.session() as session:
        credits = (await session.scalars(select(Credit).where(Credit.source_id == registration_id))).all()
    # 2.5 % of 40,001.00 = 1,000.025, half-even to the cent: 1,000.02 (not the 9 % set since)
    assert [(c.rate_bps, c.basis_minor, c.amount_minor) for c in credits] == [(250, 40_001_00, 1_000_02)]
    async with world.db.unit_of_work() as session:
        registration = await session.get_one(DealRegistration, registration_id)
        with pytest.raises(Conflict):
            await closing.decide_proof(
                session,
                principal=principal(world.cm_a),
                registration_id=registration_id,
                data=ProofDecision(expected_version=registration.version, approve=True),
            )
