"""What each figure means, sent with every report (and shown under the charts)."""

from __future__ import annotations

from prm.crm.models import OpportunityStage

# Forecast categories, from the opportunity's stage (the opportunity records no category of its own).
FORECAST_CATEGORY = {
    OpportunityStage.NEGOTIATION: "commit",
    OpportunityStage.PROPOSAL: "best_case",
    OpportunityStage.PRESENTATION: "pipeline",
    OpportunityStage.PROSPECTING: "pipeline",
}
STALL_DAYS = 14

CHANNEL = "indirect: a partner is on the opportunity; direct: none."
MONEY = "Integer minor units of the row's currency; currencies are never added together."
PERIOD = "Whole calendar months in time_zone, from_month to to_month inclusive."

DEFINITIONS: dict[str, dict[str, str]] = {
    "sales-channels": {
        "channel": CHANNEL,
        "won": "Opportunities in Closed Won whose closed_at falls in the month (time_zone).",
        "share_pct": "The channel's share of the month's won amount in that currency.",
        "growth_previous_month_pct": "Won amount against the same channel and currency one month earlier.",
        "growth_previous_year_pct": "Won amount against the same channel and currency twelve months earlier.",
        "money": MONEY,
    },
    "pipeline": {
        "pipeline": "Open opportunities now (any stage before Closed Won / Closed Lost); the period is not applied.",
        "channel": CHANNEL,
        "money": MONEY,
    },
    "forecast": {
        "commit": "Open opportunities in Negotiation.",
        "best_case": "Open opportunities in Proposal.",
        "pipeline": "Open opportunities in Prospecting or Presentation.",
        "month": "The opportunity's expected close_date (a calendar date, no time zone).",
        "money": MONEY,
    },
    "partner-sales": {
        "won": "Indirect Closed Won opportunities with closed_at in the period.",
        "growth_pct": "Won amount against the same number of months immediately before the period.",
        "money": MONEY,
    },
    "top-partners": {
        "rank": "Per currency, partners ordered by the `by` parameter (won_amount, won_count or growth).",
        "money": MONEY,
    },
    "top-deals": {"deals": "The ten largest Closed Won opportunities per currency closed in the period."},
    "closed-business": {
        "closed": "Opportunities closed (won or lost) with closed_at in the month (time_zone).",
        "win_rate_pct": "Won count / (won + lost) count.",
    },
    "partner-scorecard": {
        "registrations": "Counted by the time of each event within the period: submitted_at, approved_at, "
        "decided_at of rejections, expired_at, closed_at of wins and losses.",
        "win_rate_pct": "Registrations won / (won + lost) closed in the period.",
        "average_deal_size": "Won amount of registrations won in the period / their count, per currency (floor).",
        "time_to_close_days": "Mean days from submitted_at to closed_at of the registrations won in the period.",
        "leads": "Offers made to the partner in the period, by their current status; timed_out = nobody answered.",
        "acceptance_rate_pct": "accepted (incl. converted) / (accepted + declined + timed out).",
        "time_to_accept_hours": "Mean response time of the accepted offers.",
        "stall_rate_pct": f"Accepted offers not converted {STALL_DAYS} days after acceptance / accepted offers.",
        "margin_credit": "Margin credits of won registrations: earned = created in the period, paid = paid in it.",
        "review_sla_pct": "Vendor side: registrations decided in the period on or before review_due_at / decided.",
        "decision_hours": "Vendor side: mean hours from submitted_at to decided_at of those decisions.",
        "leads_promised": "Vendor side: for each lead program the partner belongs to, the program's offers in the "
        "period times the partner's weight / the members' total weight (its weighted fair share), summed.",
        "leads_offered": "Vendor side: offers made to the partner in the period.",
    },
    "deal-status": {
        "state": "Registrations now in each state.",
        "reviews_overdue": "Submitted registrations past review_due_at now.",
        "protection_expiring": "Approved registrations whose protection (expires_at) ends within 7 / 30 days from now.",
    },
    "lead-quality": {
        "leads": "Leads created in the period (merged duplicates left out), by source or campaign.",
        "score bands": "0-30, 31-75, 76-100 of the lead's score.",
        "qualified": "Leads past new and not disqualified (marketing qualified or further).",
        "converted": "Leads converted to an opportunity.",
        "speed_to_lead": "Leads a partner accepted within an hour of the offer (the offer's response time): the first "
        "touch the records hold.",
        "won": "Closed Won opportunities converted from these leads, per currency.",
    },
    "campaign-return": {
        "cost": "The campaign's recorded budget (only campaigns with one are listed); all of the campaign's leads.",
        "won_amount_minor": "Closed Won opportunities converted from its leads, in the campaign's currency.",
        "return_pct": "(won - cost) / cost; wins in other currencies are listed apart, never converted.",
    },
}
