"""Every lead distribution page handler, in one list for `prm.portal.routes.PAGE_HANDLERS`."""

from __future__ import annotations

from typing import Any

from prm.portal.leads.console import LEAD_CONSOLE_HANDLERS
from prm.portal.leads.inbox import LEAD_INBOX_HANDLERS
from prm.portal.leads.rules import LEAD_RULE_HANDLERS

LEAD_PAGE_HANDLERS: list[Any] = [*LEAD_INBOX_HANDLERS, *LEAD_CONSOLE_HANDLERS, *LEAD_RULE_HANDLERS]
