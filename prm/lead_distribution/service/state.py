"""Which lead statuses each distribution action starts from (409 naming the current one otherwise).

new -> marketing qualified -> sales qualified -> routed -> accepted -> converted, or disqualified.
"""

from __future__ import annotations

from prm.crm.models import LeadStatus

S = LeadStatus
QUEUE = (S.NEW, S.MARKETING_QUALIFIED, S.SALES_QUALIFIED)  # waiting for a channel manager
QUALIFY_FROM = {
    S.MARKETING_QUALIFIED: (S.NEW, S.MARKETING_QUALIFIED),
    S.SALES_QUALIFIED: (S.NEW, S.MARKETING_QUALIFIED, S.SALES_QUALIFIED),
}
ROUTABLE = (S.SALES_QUALIFIED, S.ROUTED)  # routing a routed lead withdraws its open offer first
DISQUALIFIABLE = (S.NEW, S.MARKETING_QUALIFIED, S.SALES_QUALIFIED, S.ROUTED)
MERGEABLE = (S.NEW, S.MARKETING_QUALIFIED, S.SALES_QUALIFIED)
