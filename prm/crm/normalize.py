"""Normalising company names and domains so "ACME, Inc." and "acme" match, and countries to their
ISO 3166-1 alpha-2 code so "Germany", "Deutschland" and "de" are one country (and never Georgia)."""

from __future__ import annotations

import functools
import re
import unicodedata
from typing import Any
from urllib.parse import urlsplit

import pycountry
from babel import localedata
from babel.languages import get_official_languages

_LEGAL_SUFFIXES = {
    "inc",
    "incorporated",
    "llc",
    "ltd",
    "limited",
    "corp",
    "corporation",
    "co",
    "company",
    "gmbh",
    "ag",
    "sa",
    "sas",
    "sarl",
    "bv",
    "nv",
    "plc",
    "pty",
    "srl",
    "spa",
    "oy",
    "ab",
    "as",
    "kk",
    "kg",
    "group",
    "holdings",
}
_NON_WORD = re.compile(r"[^a-z0-9]+")
_FREE_MAIL = {
    "gmail.com",
    "yahoo.com",
    "hotmail.com",
    "outlook.com",
    "icloud.com",
    "aol.com",
    "proton.me",
    "protonmail.com",
    "gmx.de",
    "web.de",
    "live.com",
    "msn.com",
}


def normalize_company(name: str) -> str:
    """Lower case, accents and punctuation gone, legal suffixes and a leading "the" dropped."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    words = [w for w in _NON_WORD.split(ascii_name.lower()) if w]
    while words and words[-1] in _LEGAL_SUFFIXES:
        words.pop()
    if len(words) > 1 and words[0] == "the":
        words = words[1:]
    return " ".join(words) or name.strip().lower()


def normalize_domain(value: str | None) -> str | None:
    """'https://www.Acme.com/x' or 'jane@acme.com' -> 'acme.com'; free-mail domains -> None."""
    if not value:
        return None
    text = value.strip().lower()
    if "@" in text:
        text = text.rsplit("@", 1)[1]
    elif "//" in text:
        text = urlsplit(text).hostname or ""
    else:
        text = text.split("/", 1)[0]
    text = text.removeprefix("www.").strip(".")
    if not text or "." not in text or text in _FREE_MAIL:
        return None
    return text


class UnknownCountry(ValueError):
    """Text that is neither an ISO 3166-1 code nor a country's name."""


def normalize_country(value: str) -> str:
    """The ISO 3166-1 alpha-2 code of a country given as a code ("de", "DEU") or by its name, in
    English or in one of its own languages ("Germany", "Deutschland", "Norge", "Россия").

    Names come from pycountry (ISO 3166 English names) and babel (CLDR: each country's name in its
    official languages), so the list is kept by others; UnknownCountry when nothing matches.
    """
    key = _country_key(value)
    code = _country_index().get(key)
    if code is None:
        raise UnknownCountry(f"{value.strip()!r} is not a country we know; use its name or ISO code, like DE.")
    return code


def _country_key(text: str) -> str:
    """Case, accents, punctuation and spacing folded away: "Côte d'Ivoire" == "cote d ivoire"."""
    plain = unicodedata.normalize("NFKD", text.casefold())
    return " ".join(_NON_LETTER.split("".join(c for c in plain if not unicodedata.combining(c)))).strip()


_NON_LETTER = re.compile(r"[\W_]+")


def warm_country_index() -> None:
    """Build the index now (about a second of CPU), e.g. at start-up in a worker thread, rather
    than inside the first request that names a country."""
    _country_index()


@functools.cache
def _country_index() -> dict[str, str]:
    """Folded code or name -> alpha-2. Codes and English names first; a native name that two
    countries share is left out rather than guessed."""
    index: dict[str, str] = {}
    english = localedata.load("en")["territories"]
    for country in pycountry.countries:
        for text in (country.alpha_2, country.alpha_3, *_english_names(country, english)):
            index.setdefault(_country_key(text), country.alpha_2)
    native: dict[str, set[str]] = {}
    for code, name in _native_names():
        native.setdefault(_country_key(name), set()).add(code)
    for key, codes in native.items():
        if len(codes) == 1:
            index.setdefault(key, codes.pop())
    return index


def _english_names(country: Any, english: dict[str, str]) -> list[str]:
    names = [getattr(country, attr, None) for attr in ("name", "official_name", "common_name")]
    names += [english.get(country.alpha_2), english.get(f"{country.alpha_2}-alt-short")]
    return [name for name in names if name]


def _native_names() -> list[tuple[str, str]]:
    """(alpha-2, its name in one of its official languages) from CLDR. Each language's data is
    read once and let go: babel would otherwise keep ~100 MB of locale data for a few names."""
    languages: dict[str, list[str]] = {}
    for country in pycountry.countries:
        for language in get_official_languages(country.alpha_2, de_facto=True):
            languages.setdefault(language, []).append(country.alpha_2)
    names = []
    for language, codes in languages.items():
        if not localedata.exists(language):
            continue
        territories = localedata.load(language, merge_inherited=False).get("territories", {})
        localedata._cache.pop(language, None)  # babel caches every locale it loads, for good
        names += [(code, territories[code]) for code in codes if code in territories]
    return names
