"""Normalising company names and domains so "ACME, Inc." and "acme" match."""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import urlsplit

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
