"""The credit ledger, rule by rule: a won registration whose proof of performance is verified
earns its margin credit once, at the margin it was approved under, rounded half-even to the
minor unit; the credit then goes pending -> approved -> paid and nowhere else.

(The ledger has no reversals: a credit, once booked, is only approved and paid.)
"""

from __future__ import annotations

import asyncio
from decimal import ROUND_HALF_EVEN, Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prm.core.clock import ManualClock
from prm.deal_registration.service.closing import margin_credit
from tests.factories.deals import API, Deals, Json, at, expect


async def test_the_credit_is_booked_when_the_proof_is_verified_not_before(deals: Deals) -> None:
    won = await deals.won(amount_minor=30_000_00)
    assert await deals.credits_of(won) == []

    verified = await deals.decided(won, "proof/decision", approve=True)
    [credit] = await deals.credits_of(verified)
    assert {k: credit[k] for k in ("partner_id", "source_type", "basis_minor", "rate_bps", "amount_minor")} == {
        "partner_id": str(deals.world.partner_a),
        "source_type": "deal_registration",
        "basis_minor": 30_000_00,
        "rate_bps": 500,
        "amount_minor": 1_500_00,
    }
    assert (credit["currency"], credit["status"]) == ("USD", "pending")
    assert won["number"] in credit["description"]
    # The partner's own ledger shows it; the other partner's does not.
    assert [c["id"] for c in await deals.credits_of(won, deals.world.pa_admin)] == [credit["id"]]
    assert await deals.credits_of(won, deals.world.pb_admin) == []


async def test_verifying_again_or_closing_again_books_nothing_more(deals: Deals) -> None:
    verified = await deals.verified(amount_minor=20_000_00)
    [credit] = await deals.credits_of(verified)

    again = await deals.act(verified, "proof/decision", actor=deals.world.cm_a, approve=True)
    assert again.status_code == 409, again.text
    close_again = await deals.close_won(verified, 90_000_00)
    assert close_again.status_code == 409, close_again.text
    stale = await deals.act(verified, "proof/decision", actor=deals.world.admin, approve=True)
    assert stale.status_code == 409, stale.text

    assert await deals.credits_of(verified) == [credit]


async def test_two_verifications_at_once_book_one_credit(deals: Deals) -> None:
    won = await deals.won()
    replies = await asyncio.gather(
        deals.act(won, "proof/decision", actor=deals.world.cm_a, approve=True),
        deals.act(won, "proof/decision", actor=deals.world.admin, approve=True),
    )
    assert sorted(r.status_code for r in replies) == [200, 409], [r.text for r in replies]
    assert len(await deals.credits_of(won)) == 1


async def test_a_refused_proof_earns_nothing_until_a_new_one_is_verified(deals: Deals) -> None:
    refused = await deals.proof_refused(amount_minor=48_000_00)
    assert (refused["state"], refused["proof_status"]) == ("won", "rejected")
    assert await deals.credits_of(refused) == []

    resent = expect(await deals.close_won(refused, 44_000_00, invoice_number="INV-2291-B"), 200)
    assert (resent["proof_status"], resent["won_amount_minor"]) == ("submitted", 44_000_00)
    verified = await deals.decided(resent, "proof/decision", approve=True)
    assert [(c["basis_minor"], c["amount_minor"]) for c in await deals.credits_of(verified)] == [(44_000_00, 2_200_00)]


async def test_lost_cancelled_and_expired_registrations_earn_nothing(deals: Deals, clock: ManualClock) -> None:
    made = [await deals.lost(), await deals.cancelled(customer_name="Initech", customer_website=None)]
    made.append(await deals.expired(customer_name="Hooli", customer_website=None))
    reply = await deals.client.get(f"{API}/credits", headers=deals.world.admin.headers)
    assert expect(reply, 200)["items"] == []
    assert [r["state"] for r in made] == ["lost", "cancelled", "expired"]


async def test_the_margin_is_the_one_approved_under_not_the_programs_current(deals: Deals) -> None:
    cheap = await deals.with_program(margin_bps=250)
    approved = await cheap.approved()
    await cheap.change_program(margin_bps=900)
    won = expect(await cheap.close_won(approved, 40_001_00), 200)
    verified = await cheap.decided(won, "proof/decision", approve=True)
    # 2.5 % of 40,001.00 = 1,000.025: half-even to the cent, 1,000.02 (not 9 %)
    [credit] = await cheap.credits_of(verified)
    assert (credit["rate_bps"], credit["amount_minor"]) == (250, 1_000_02)


@pytest.mark.parametrize(
    ("amount_minor", "margin_bps", "credit_minor"),
    [
        (1, 5_000, 0),  # 0.5 -> the even 0
        (3, 5_000, 2),  # 1.5 -> the even 2
        (40_003_00, 250, 1_000_08),  # 100,007.5 -> 100,008
        (4_999_999, 500, 2_500_00),  # 249,999.95 -> 250,000
        (9_999, 1, 1),  # 0.9999 -> 1
        (99_999_999_999, 10_000, 99_999_999_999),  # all of it, past 2**32
        (12_345_67, 0, 0),
    ],
)
async def test_the_credit_rounds_half_even_to_the_minor_unit(
    deals: Deals, amount_minor: int, margin_bps: int, credit_minor: int
) -> None:
    program = await deals.with_program(margin_bps=margin_bps)
    verified = await program.verified(amount_minor=amount_minor)
    [credit] = await program.credits_of(verified)
    assert (credit["basis_minor"], credit["amount_minor"]) == (amount_minor, credit_minor)


def exact_half_even(amount_minor: int, margin_bps: int) -> int:
    """The reference: the exact fraction, rounded half to even by hand."""
    exact = Fraction(amount_minor * margin_bps, 10_000)
    floor = exact.numerator // exact.denominator
    rest = exact - floor
    if rest > Fraction(1, 2) or (rest == Fraction(1, 2) and floor % 2 == 1):
        return floor + 1
    return floor


@settings(derandomize=True, max_examples=2_000, deadline=None)
@given(amount_minor=st.integers(min_value=1, max_value=10**15), margin_bps=st.integers(min_value=0, max_value=10_000))
def test_margin_credit_is_exact_to_the_minor_unit_for_any_amount_and_rate(amount_minor: int, margin_bps: int) -> None:
    credit = margin_credit(amount_minor, margin_bps)
    assert credit == exact_half_even(amount_minor, margin_bps)
    assert abs(Fraction(credit) - Fraction(amount_minor * margin_bps, 10_000)) <= Fraction(1, 2)
    assert credit == int((Decimal(amount_minor * margin_bps) / 10_000).quantize(Decimal(1), ROUND_HALF_EVEN))


STEPS = {"pending": ["approve"], "approved": ["pay"], "paid": []}


@pytest.mark.parametrize("status", STEPS)
async def test_a_credit_moves_pending_approved_paid_and_nowhere_else(
    deals: Deals, clock: ManualClock, status: str
) -> None:
    [credit] = await deals.credits_of(await deals.verified())
    for step in {"pending": [], "approved": ["approve"], "paid": ["approve", "pay"]}[status]:
        credit = expect(await deals.advance_credit(credit, step), 200)
    assert credit["status"] == status
    for step in sorted(("approve", "pay"), key=lambda s: s in STEPS[status]):  # the refusals first
        reply = await deals.advance_credit(credit, step)
        if step in STEPS[status]:
            assert reply.status_code == 200, reply.text
            moved = reply.json()
            assert moved["status"] == {"approve": "approved", "pay": "paid"}[step]
            assert at(moved[f"{moved['status']}_at"]) == clock.now()
        else:
            assert reply.status_code == 409, reply.text
            assert reply.headers["content-type"].startswith("application/problem+json")
            assert reply.json()["current_state"] == status


async def test_only_the_vendor_admin_moves_a_credit_and_a_stale_version_loses(deals: Deals) -> None:
    [credit] = await deals.credits_of(await deals.verified())
    for actor in (deals.world.pa_admin, deals.world.cm_a, deals.world.leader):
        assert (await deals.advance_credit(credit, "approve", actor)).status_code == 403
    approved = expect(await deals.advance_credit(credit, "approve"), 200)
    stale = await deals.advance_credit(credit, "pay")  # read before the approval
    assert stale.status_code == 409, stale.text
    history = await deals.client.get(f"{API}/credits/{credit['id']}/history?sort=at", headers=deals.world.admin.headers)
    steps: list[Json] = expect(history, 200)["items"]
    assert [(h["action"], h["changes"].get("status")) for h in steps] == [
        ("created", [None, "pending"]),
        ("approved", ["pending", "approved"]),
    ]
    assert approved["version"] == credit["version"] + 1
