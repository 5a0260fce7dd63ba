"""Chart data for the pages: what Chart.js draws (major units) next to the tables it summarises.

The numbers go into the page as JSON in a <script type="application/json"> block (data, not
code: the CSP allows no inline script), which static/dashboard.js hands to Chart.js.
"""

from __future__ import annotations

from typing import Any

from prm.portal.shell.money import minor_digits
from prm.scorecards.schemas import (
    ChannelMonthRow,
    DealStatusRow,
    ForecastRow,
    LeadQualityRow,
    PipelineRow,
    TopPartnerRow,
)

CHANNELS = ("indirect", "direct")
STAGES = ("Prospecting", "Presentation", "Proposal", "Negotiation")


def major(amount_minor: int, currency: str) -> float:
    return float(amount_minor) / float(10 ** minor_digits(currency))


def chart(kind: str, labels: list[str], datasets: list[dict[str, Any]], **options: Any) -> dict[str, Any]:
    return {"type": kind, "labels": labels, "datasets": datasets, **options}


def channels_chart(rows: list[ChannelMonthRow], currency: str) -> dict[str, Any]:
    months = sorted({row.month for row in rows})
    amount = {(row.month, row.channel): row.won_amount_minor for row in rows if row.currency == currency}
    datasets = [
        {
            "label": f"{channel.title()} ({currency})",
            "data": [major(amount.get((m, channel), 0), currency) for m in months],
        }
        for channel in CHANNELS
    ]
    return chart("bar", months, datasets, stacked=True)


def pipeline_chart(rows: list[PipelineRow], currency: str) -> dict[str, Any]:
    amount = {(row.stage, row.channel): row.amount_minor for row in rows if row.currency == currency}
    datasets = [
        {
            "label": f"{channel.title()} ({currency})",
            "data": [major(amount.get((s, channel), 0), currency) for s in STAGES],
        }
        for channel in CHANNELS
    ]
    return chart("bar", list(STAGES), datasets, stacked=True)


def forecast_chart(rows: list[ForecastRow], currency: str) -> dict[str, Any]:
    months = sorted({row.month for row in rows})
    mine = {(row.month, row.channel): row for row in rows if row.currency == currency}
    datasets = []
    for channel in CHANNELS:
        for field, label in (
            ("commit_minor", "commit"),
            ("best_case_minor", "best case"),
            ("pipeline_minor", "pipeline"),
        ):
            values = [
                major(getattr(mine[(m, channel)], field), currency) if (m, channel) in mine else 0 for m in months
            ]
            datasets.append({"label": f"{channel.title()} {label}", "data": values, "stack": channel})
    return chart("bar", months, datasets, stacked=True)


def top_partners_chart(rows: list[TopPartnerRow], currency: str) -> dict[str, Any]:
    mine = [row for row in rows if row.currency == currency]
    data = [major(row.won_amount_minor, currency) for row in mine]
    return chart(
        "bar", [row.partner_name for row in mine], [{"label": f"Won ({currency})", "data": data}], horizontal=True
    )


def lead_quality_chart(rows: list[LeadQualityRow]) -> dict[str, Any]:
    bands = (("score_0_30", "Score 0-30"), ("score_31_75", "Score 31-75"), ("score_76_100", "Score 76-100"))
    datasets = [{"label": label, "data": [getattr(row, field) for row in rows]} for field, label in bands]
    return chart("bar", [row.label for row in rows], datasets, stacked=True)


def deal_status_chart(rows: list[DealStatusRow]) -> dict[str, Any]:
    states = [row for row in rows if row.group == "state"]
    return chart(
        "bar", [row.name for row in states], [{"label": "Registrations", "data": [row.count for row in states]}]
    )
