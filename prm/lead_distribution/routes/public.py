"""The public web-to-lead endpoint: no token, a form key per campaign, a honeypot, and a rate
limit per client address, counted in the service's shared throttle (the database, or Redis when
PRM_REDIS_URL is set) so every instance behind a load balancer enforces the same one.

A person's browser posting the form gets pages: a thank-you page (or the form's own thank-you
address), or the form's problems in sentences. A script asking for JSON gets JSON, as before.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

import msgspec
from litestar import Controller, MediaType, Request, Response, post
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from prm.core.db import abandon
from prm.core.errors import DomainError
from prm.core.throttle import Throttle, retry_after
from prm.lead_distribution.schemas import WebLeadReceived, WebLeadSubmission
from prm.lead_distribution.service import intake

# Per client address; a person fills in a form a few times at most, a bot hundreds.
WEB_FORM_LIMIT = 10
WEB_FORM_WINDOW_SECONDS = 60

LABELS = {
    "first_name": "first name",
    "last_name": "last name",
    "email": "email address",
    "company": "company",
    "phone": "phone number",
    "title": "job title",
    "country": "country",
    "message": "message",
    "homepage": "homepage",
}
# What a person reads instead of the validator's pattern.
SENTENCES = {
    "email": "Enter an email address like name@example.com.",
    "country": "Enter a country by its name or its two-letter code, like Norway or NO.",
}
_FIELD = re.compile(r"at `\$\.(\w+)`|field `(\w+)`")
_TOO_LONG = re.compile(r"length <= (\d+)")


class InvalidSubmission(DomainError):
    status_code = 400
    type_slug = "validation"


def _sentence(field: str, message: str) -> str:
    label = LABELS.get(field, field)
    if field in SENTENCES:
        return SENTENCES[field]
    if too_long := _TOO_LONG.search(message):
        return f"Your {label} is too long: at most {too_long.group(1)} characters."
    return f"Check your {label}."


def _field_of(message: str) -> str:
    found = _FIELD.search(message)
    return next((g for g in found.groups() if g), "body") if found else "body"


def _problems(values: dict[str, str]) -> list[dict[str, str]]:
    """Every field's problem at once (a person fixes them together), each in a sentence."""
    problems: list[dict[str, str]] = []
    for field in msgspec.structs.fields(WebLeadSubmission):
        value = values.get(field.encode_name)
        if value is None:
            if field.required:
                problems.append({"field": field.name, "message": f"Fill in your {LABELS[field.name]}."})
            continue
        try:
            msgspec.convert(value, field.type)
        except msgspec.ValidationError as exc:
            problems.append({"field": field.name, "message": _sentence(field.name, str(exc))})
    return problems


def _submission(form: dict[str, Any]) -> WebLeadSubmission:
    """HTML forms send empty strings for empty inputs: those count as not given."""
    values = {k: v.strip() for k, v in form.items() if isinstance(v, str) and v.strip()}
    if problems := _problems(values):
        raise InvalidSubmission(" ".join(p["message"] for p in problems), field=problems[0]["field"], errors=problems)
    try:
        return msgspec.convert(values, WebLeadSubmission)  # what is left: the country's name or code
    except msgspec.ValidationError as exc:
        field = _field_of(str(exc))
        sentence = _sentence(field, str(exc))
        raise InvalidSubmission(sentence, field=field, errors=[{"field": field, "message": sentence}]) from exc


def _wants_page(request: Request[Any, Any, Any]) -> bool:
    """A browser (Accept: text/html first) rather than a script."""
    return request.accept.best_match([MediaType.JSON, MediaType.HTML], default=MediaType.JSON) == MediaType.HTML


def _problem_page(error: DomainError, *, back: str | None) -> Template:
    problems = error.extra.get("errors") or [{"field": error.field or "body", "message": error.detail}]
    context = {
        "viewer": None,
        "problems": [{**p, "label": LABELS.get(p["field"], p["field"])} for p in problems],
        "back": back if back and back.startswith(("https://", "http://")) else None,
    }
    return Template("public/web_lead_problem.html", context=context, status_code=error.status_code)


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
        summary="Public form post (application/x-www-form-urlencoded); no token. A browser "
        "(Accept: text/html) gets a thank-you page or the form's thank-you address (303).",
        throttled=True,
    )
    async def submit(
        self,
        request: Request[Any, Any, Any],
        db_session: AsyncSession,
        form_key: str,
        data: Annotated[dict[str, Any], Body(media_type=RequestEncodingType.URL_ENCODED)],
    ) -> Response[Any]:
        """At most ten posts a minute per client address (else 429 with `Retry-After`), shared
        by every instance."""
        await _within_limit(request)
        browser = _wants_page(request)
        try:
            form = await intake.submit_web_lead(db_session, form_key=form_key[:64], data=_submission(data))
        except DomainError as error:
            if not browser or error.status_code not in (400, 422):
                raise
            await abandon(db_session)  # nothing half-written: the page answers, nothing commits
            return _problem_page(error, back=request.headers.get("referer"))
        if not browser:
            return Response(WebLeadReceived(), status_code=202)
        if form.thank_you_url:
            return Redirect(form.thank_you_url, status_code=303)
        return Template("public/web_lead_thanks.html", context={"viewer": None, "form_name": form.name})
