"""The public web-to-lead endpoint: no token, a form key per campaign, a honeypot, and a rate
limit per client address (Litestar's RateLimitMiddleware)."""

from __future__ import annotations

import re
from typing import Annotated, Any

import msgspec
from litestar import Controller, post
from litestar.enums import RequestEncodingType
from litestar.middleware.rate_limit import RateLimitConfig
from litestar.params import Body
from sqlalchemy.ext.asyncio import AsyncSession

from prm.core.errors import DomainError
from prm.lead_distribution.schemas import WebLeadReceived, WebLeadSubmission
from prm.lead_distribution.service import intake

# Per client address; a person fills in a form a few times at most, a bot hundreds.
WEB_FORM_RATE = RateLimitConfig(rate_limit=("minute", 10), store="web_to_lead_rate_limit")


_FIELD = re.compile(r"at `\$\.(\w+)`|field `(\w+)`")


class InvalidSubmission(DomainError):
    status_code = 400
    type_slug = "validation"


def _submission(form: dict[str, Any]) -> WebLeadSubmission:
    """HTML forms send empty strings for empty inputs: those count as not given."""
    values = {k: v.strip() for k, v in form.items() if isinstance(v, str) and v.strip()}
    try:
        return msgspec.convert(values, WebLeadSubmission)
    except msgspec.ValidationError as exc:
        message = str(exc)
        found = _FIELD.search(message)
        field = next((g for g in found.groups() if g), "body") if found else "body"
        raise InvalidSubmission(f"Invalid input: {field}. {message}", field=field) from exc


class WebToLeadController(Controller):
    path = "/distribution/web-to-lead"
    tags = ["lead distribution"]
    middleware = [WEB_FORM_RATE.middleware]

    @post(
        "/{form_key:str}",
        status_code=202,
        security=[],
        exclude_from_auth=True,
        summary="Public form post (application/x-www-form-urlencoded); no token",
    )
    async def submit(
        self,
        db_session: AsyncSession,
        form_key: str,
        data: Annotated[dict[str, Any], Body(media_type=RequestEncodingType.URL_ENCODED)],
    ) -> WebLeadReceived:
        await intake.submit_web_lead(db_session, form_key=form_key[:64], data=_submission(data))
        return WebLeadReceived()
