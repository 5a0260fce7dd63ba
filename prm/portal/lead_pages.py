"""Every lead distribution page handler, in one list for `prm.portal.routes.PAGE_HANDLERS`."""

from __future__ import annotations

from typing import Any

from prm.portal.lead_console import LEAD_CONSOLE_HANDLERS
from prm.portal.lead_rules import LEAD_RULE_HANDLERS
from prm.portal.leads import LEAD_INBOX_HANDLERS

LEAD_PAGE_HANDLERS: list[Any] = [*LEAD_INBOX_HANDLERS, *LEAD_CONSOLE_HANDLERS, *LEAD_RULE_HANDLERS]
