"""The public web-to-lead endpoint: no token, a form key per campaign, a honeypot, and a rate
limit per client address, counted in the service's shared throttle (the database, or Redis when
PRM_REDIS_URL is set) so every instance behind a load balancer enforces the same one."""

from __future__ import annotations

import re
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, post
from litestar.enums import RequestEncodingType
from litestar.params import Body
from sqlalchemy.ext.asyncio import AsyncSession

from prm.core.errors import DomainError
from prm.core.throttle import Throttle, retry_after
from prm.lead_distribution.schemas import WebLeadReceived, WebLeadSubmission
from prm.lead_distribution.service import intake

# Per client address; a person fills in a form a few times at most, a bot hundreds.
WEB_FORM_LIMIT = 10
WEB_FORM_WINDOW_SECONDS = 60


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


class TooManySubmissions(DomainError):
    status_code = 429
    title = "Too many requests"
    type_slug = "too-many-requests"

    def __init__(self, wait_seconds: float) -> None:
        wait = retry_after(wait_seconds)
        super().__init__(
            f"Too many form posts from this address; try again in {wait} seconds.", headers={"Retry-After": wait}
        )


async def _within_limit(request: Request[Any, Any, Any]) -> None:
    throttle: Throttle = request.app.state.runtime.throttle
    address = request.client.host if request.client else "unknown"
    wait = await throttle.hit(f"web-to-lead:{address}", limit=WEB_FORM_LIMIT, window_seconds=WEB_FORM_WINDOW_SECONDS)
    if wait is not None:
        raise TooManySubmissions(wait)


class WebToLeadController(Controller):
    path = "/distribution/web-to-lead"
    tags = ["lead distribution"]

    @post(
        "/{form_key:str}",
        status_code=202,
        security=[],
        exclude_from_auth=True,
        summary="Public form post (application/x-www-form-urlencoded); no token",
        throttled=True,
    )
    async def submit(
        self,
        request: Request[Any, Any, Any],
        db_session: AsyncSession,
        form_key: str,
        data: Annotated[dict[str, Any], Body(media_type=RequestEncodingType.URL_ENCODED)],
    ) -> WebLeadReceived:
        """At most ten posts a minute per client address (else 429 with `Retry-After`), shared
        by every instance."""
        await _within_limit(request)
        await intake.submit_web_lead(db_session, form_key=form_key[:64], data=_submission(data))
        return WebLeadReceived()
