"""Every page handler of the portal, area by area: the shell (sign-in, home, mailbox), deals,
leads, connect, the dashboard and the admin pages."""

from __future__ import annotations

from typing import Any

from prm.portal.admin.groups import GROUP_PAGE_HANDLERS
from prm.portal.admin.lead_programs import LEAD_PROGRAM_PAGE_HANDLERS
from prm.portal.admin.partners import PARTNER_PAGE_HANDLERS
from prm.portal.admin.programs import PROGRAM_PAGE_HANDLERS
from prm.portal.admin.users import USER_PAGE_HANDLERS
from prm.portal.admin.webhooks import WEBHOOK_PAGE_HANDLERS
from prm.portal.connect.pages import CONNECT_PAGE_HANDLERS
from prm.portal.connect.records import CONNECT_RECORD_HANDLERS
from prm.portal.dashboard.pages import DASHBOARD_PAGE_HANDLERS
from prm.portal.deals.actions import DEAL_ACTION_HANDLERS
from prm.portal.deals.credits import CREDIT_PAGE_HANDLERS
from prm.portal.deals.pages import DEAL_FORM_HANDLERS
from prm.portal.deals.reviews import REVIEW_PAGE_HANDLERS
from prm.portal.leads.pages import LEAD_PAGE_HANDLERS
from prm.portal.shell.pages import SHELL_PAGE_HANDLERS

PAGE_HANDLERS: list[Any] = [
    *SHELL_PAGE_HANDLERS,
    *DEAL_FORM_HANDLERS,
    *DEAL_ACTION_HANDLERS,
    *REVIEW_PAGE_HANDLERS,
    *CREDIT_PAGE_HANDLERS,
    *LEAD_PAGE_HANDLERS,
    *DASHBOARD_PAGE_HANDLERS,
    *CONNECT_PAGE_HANDLERS,
    *CONNECT_RECORD_HANDLERS,
    *PARTNER_PAGE_HANDLERS,
    *PROGRAM_PAGE_HANDLERS,
    *LEAD_PROGRAM_PAGE_HANDLERS,
    *USER_PAGE_HANDLERS,
    *GROUP_PAGE_HANDLERS,
    *WEBHOOK_PAGE_HANDLERS,
]
