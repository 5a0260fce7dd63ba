"""Where a partner or a lead is: coordinates given by the caller, or geocoded offline from its
city and country. 0.0 is a coordinate like any other, so nothing here tests truthiness."""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec
from msgspec import UNSET

from prm.core.errors import RuleViolation
from prm.crm.geocode import locate

Body = TypeVar("Body", bound=msgspec.Struct)


def _given(value: Any) -> bool:
    return value is not UNSET and value is not None


def _check_pair(data: msgspec.Struct) -> bool:
    """Whether the body gives coordinates; a latitude without its longitude (or the reverse) is refused."""
    latitude, longitude = getattr(data, "latitude", UNSET), getattr(data, "longitude", UNSET)
    if _given(latitude) != _given(longitude):
        missing = "longitude" if _given(latitude) else "latitude"
        raise RuleViolation("Give latitude and longitude together, or neither.", field=missing)
    return _given(latitude)


async def placed_on_create(data: Body) -> Body:
    """The create body with coordinates: the given ones, or the city's in its country (None if unknown)."""
    if _check_pair(data):
        return data
    found = await locate(getattr(data, "city", None), getattr(data, "country", None))
    return msgspec.structs.replace(
        data, latitude=found.latitude if found else None, longitude=found.longitude if found else None
    )


async def placed_on_update(data: Body, record: Any) -> Body:
    """The update body with coordinates when it moves the record: given ones win; a new city or
    country is geocoded again (no coordinates if the new place is unknown)."""
    if _check_pair(data):
        return data
    city, country = getattr(data, "city", UNSET), getattr(data, "country", UNSET)
    if city is UNSET and country is UNSET:
        return data
    found = await locate(
        record.city if city is UNSET else city,
        record.country if country is UNSET else country,
    )
    return msgspec.structs.replace(
        data, latitude=found.latitude if found else None, longitude=found.longitude if found else None
    )
