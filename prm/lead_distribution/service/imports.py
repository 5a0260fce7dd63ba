"""CSV import of vendor leads: header mapping, per-row validation with line numbers, all-or-nothing
or skip-bad-rows, duplicate flags, and bulk inserts.

A file the csv module cannot read safely (not UTF-8, NUL bytes, an unclosed quote, a line longer
than MAX_LINE_CHARS, too many rows) is refused as a whole with a 422 naming the line. Cells a
spreadsheet would run as formulas (=, +, -, @) are refused per row, never stored.
"""

from __future__ import annotations

import csv
import io
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Any

import msgspec
from msgspec import Meta
from sqlalchemy.ext.asyncio import AsyncSession

from prm.core.auth import Principal
from prm.core.db import new_id
from prm.core.errors import NotFound, RuleViolation
from prm.crm.models import LeadSource, TimeFrame
from prm.crm.schemas import Country, Currency, Email, Employees, LongText, MinorUnits, Name, Phone, ShortText
from prm.crm.services import lead_pipeline
from prm.crm.services.campaigns import get_campaign
from prm.crm.services.lead_pipeline import match_of
from prm.lead_distribution import rules
from prm.lead_distribution.models import LeadImport
from prm.lead_distribution.schemas import ImportMode, ImportReport, RowError
from prm.lead_distribution.service.intake import flag_duplicates, probe_of
from prm.lead_distribution.service.scoring import attributes_of, criteria_in_force

MAX_ROWS = 200_000
MAX_LINE_CHARS = 10_000
MAX_ERRORS_KEPT = 1_000
REQUIRED = ("first_name", "last_name", "company")
# Header spellings people use, folded to lower case without spaces, dashes or underscores.
ALIASES = {
    "firstname": "first_name",
    "givenname": "first_name",
    "lastname": "last_name",
    "surname": "last_name",
    "familyname": "last_name",
    "company": "company",
    "companyname": "company",
    "organization": "company",
    "organisation": "company",
    "account": "company",
    "email": "email",
    "emailaddress": "email",
    "mail": "email",
    "phone": "phone",
    "phonenumber": "phone",
    "telephone": "phone",
    "title": "title",
    "jobtitle": "title",
    "country": "country",
    "countrycode": "country",
    "region": "region",
    "state": "region",
    "employees": "employees",
    "numberofemployees": "employees",
    "companysize": "employees",
    "currentsituation": "current_situation",
    "need": "current_situation",
    "description": "current_situation",
    "product": "product_sku",
    "productsku": "product_sku",
    "sku": "product_sku",
    "timeframe": "time_frame",
    "budget": "budget_minor",
    "budgetminor": "budget_minor",
    "currency": "currency",
}


class ImportRow(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    first_name: ShortText
    last_name: ShortText
    company: Name
    email: Email | None = None
    phone: Phone | None = None
    title: Name | None = None
    country: Country | None = None
    region: ShortText | None = None
    employees: Employees | None = None
    current_situation: LongText | None = None
    product_sku: Annotated[str, Meta(max_length=64)] | None = None
    time_frame: TimeFrame | None = None
    budget_minor: MinorUnits | None = None
    currency: Currency | None = None


FIELD_TYPES: dict[str, Any] = {f.name: f.type for f in msgspec.structs.fields(ImportRow)}
# Numbers are parsed, never stored as text: a leading minus there is a sign, not a formula.
TEXT_FIELDS = frozenset(FIELD_TYPES) - {"employees", "budget_minor"}
_FIELD_IN_MESSAGE = re.compile(r"`\$\.(\w+)`")


@dataclass(frozen=True)
class CsvUpload:
    filename: str
    content: bytes
    mode: ImportMode
    mapping: dict[str, str] | None
    source: LeadSource
    campaign_id: uuid.UUID | None


class FileRefused(RuleViolation):
    def __init__(self, detail: str, *, line: int | None = None) -> None:
        errors = [{"line": line, "field": "file", "message": detail}] if line else None
        super().__init__(detail, field="file", **({"errors": errors} if errors else {}))


# Reading the file ----------------------------------------------------------------------------


def _decode(content: bytes) -> str:
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise FileRefused(
            f"The file is not UTF-8 text (byte {exc.start} cannot be read); save it as CSV UTF-8."
        ) from exc
    if "\x00" in text:
        raise FileRefused("The file contains NUL bytes; it is not a CSV text file.")
    return text


def _lines(text: str) -> Iterator[str]:
    for number, line in enumerate(io.StringIO(text, newline=""), start=1):
        if len(line) > MAX_LINE_CHARS:
            raise FileRefused(f"Line {number} is longer than {MAX_LINE_CHARS} characters.", line=number)
        yield line


def _records(text: str) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """The header and every (first line number, cells) record; strict quoting."""
    reader = csv.reader(_lines(text), strict=True)
    records: list[tuple[int, list[str]]] = []
    try:
        header = next(reader, None)
        if header is None:
            raise FileRefused("The file is empty.")
        start = reader.line_num + 1
        for cells in reader:
            if any(c.strip() for c in cells):
                records.append((start, cells))
            if len(records) > MAX_ROWS:
                raise FileRefused(f"The file has more than {MAX_ROWS} rows; split it.")
            start = reader.line_num + 1
    except csv.Error as exc:
        raise FileRefused(
            f"The file is not valid CSV near line {reader.line_num}: {exc}.", line=reader.line_num
        ) from exc
    return header, records


def _fold(header: str) -> str:
    return re.sub(r"[\s_\-]+", "", header.strip().lower())


def _columns(header: list[str], mapping: dict[str, str] | None) -> tuple[dict[int, str], list[str]]:
    """Column index -> field, from the caller's mapping (CSV header -> field) or the known aliases."""
    columns: dict[int, str] = {}
    ignored = []
    for index, name in enumerate(header):
        field = mapping.get(name.strip()) if mapping is not None else ALIASES.get(_fold(name))
        if field is None:
            ignored.append(name)
            continue
        if field not in FIELD_TYPES:
            raise RuleViolation(f"Column {name!r} is mapped to unknown field {field!r}.", field="mapping")
        if field in columns.values():
            raise RuleViolation(f"Two columns are mapped to {field}.", field="mapping")
        columns[index] = field
    missing = [f for f in REQUIRED if f not in columns.values()]
    if missing:
        raise RuleViolation(f"No column for {', '.join(missing)}; map one.", field="mapping", missing=missing)
    return columns, ignored


# Validating rows -----------------------------------------------------------------------------


def _cleaned(cells: list[str], columns: dict[int, str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for index, field in columns.items():
        cell = cells[index].strip() if index < len(cells) else ""
        if cell:
            values[field] = cell
    if "country" in values:
        values["country"] = values["country"].upper()
    if "currency" in values:
        values["currency"] = values["currency"].upper()
    if "time_frame" in values:
        values["time_frame"] = values["time_frame"].lower()
    return values


def _field_errors(values: dict[str, Any]) -> list[tuple[str, str]]:
    """Every bad field of a row (the slow path, only for rows that failed as a whole)."""
    errors = [(f, "required") for f in REQUIRED if f not in values]
    for field, value in values.items():
        try:
            msgspec.convert(value, FIELD_TYPES[field], strict=False)
        except msgspec.ValidationError as exc:
            errors.append((field, str(exc).split(" - at ")[0]))
    return errors


@dataclass
class Checked:
    good: list[tuple[int, dict[str, Any]]]
    errors: list[RowError]


def _formula_errors(line: int, values: dict[str, Any]) -> list[RowError]:
    message = "starts with =, +, - or @: spreadsheet formulas are not accepted"
    return [
        RowError(line=line, field=name, message=message)
        for name, value in values.items()
        if name in TEXT_FIELDS and rules.formula_field({name: value}) is not None
    ]


def _check_row(
    line: int, cells: list[str], width: int, columns: dict[int, str], skus: dict[str, uuid.UUID]
) -> tuple[dict[str, Any] | None, list[RowError]]:
    if len(cells) != width:
        return None, [RowError(line=line, field="row", message=f"has {len(cells)} cells; the header has {width}")]
    values = _cleaned(cells, columns)
    errors = _formula_errors(line, values)
    try:
        row = msgspec.to_builtins(msgspec.convert(values, ImportRow, strict=False))
    except msgspec.ValidationError:
        flagged = {e.field for e in errors}
        errors += [RowError(line=line, field=f, message=m) for f, m in _field_errors(values) if f not in flagged]
    if errors:
        return None, sorted(errors, key=lambda e: e.field)
    sku = row.pop("product_sku", None)
    if sku is not None:
        if sku.lower() not in skus:
            return None, [RowError(line=line, field="product_sku", message=f"no active product with SKU {sku!r}")]
        row["product_id"] = skus[sku.lower()]
    if row.get("email"):
        row["email"] = row["email"].lower()
    return row, []


def check_rows(
    header: list[str], records: list[tuple[int, list[str]]], columns: dict[int, str], skus: dict[str, uuid.UUID]
) -> Checked:
    checked = Checked([], [])
    for line, cells in records:
        row, errors = _check_row(line, cells, len(header), columns, skus)
        if row is None:
            checked.errors += errors
        else:
            checked.good.append((line, row))
    return checked


# Duplicates, scores, insert ------------------------------------------------------------------


def _in_file_duplicates(rows: list[dict[str, Any]]) -> dict[int, list[int]]:
    """Row index -> earlier rows of the same file it matches."""
    seen_email: dict[str, list[int]] = {}
    seen_company: dict[str, list[int]] = {}
    probes = [probe_of(row) for row in rows]
    found: dict[int, list[int]] = {}
    for index, probe in enumerate(probes):
        earlier = [*seen_email.get(probe.email or "", []), *seen_company.get(probe.company_normalized, [])]
        matches = sorted({i for i in earlier if match_of(probes[i], probe)})
        if matches:
            found[index] = matches
        if probe.email:
            seen_email.setdefault(probe.email, []).append(index)
        seen_company.setdefault(probe.company_normalized, []).append(index)
    return found


async def _duplicates(
    session: AsyncSession, rows: list[dict[str, Any]]
) -> dict[uuid.UUID, list[tuple[uuid.UUID, list[str]]]]:
    held = await lead_pipeline.find_duplicates(session, {row["id"]: probe_of(row) for row in rows})
    found = {lead_id: [(h.lead_id, h.matched_on) for h in hits] for lead_id, hits in held.items()}
    for index, earlier in _in_file_duplicates(rows).items():
        found.setdefault(rows[index]["id"], []).extend((rows[i]["id"], ["in_file"]) for i in earlier)
    return found


async def _check_campaign(session: AsyncSession, principal: Principal, campaign_id: uuid.UUID | None) -> None:
    if campaign_id is not None:
        try:
            await get_campaign(session, principal=principal, campaign_id=campaign_id)
        except NotFound as exc:
            raise RuleViolation(exc.detail, field="campaign_id") from exc


async def import_csv(session: AsyncSession, *, principal: Principal, upload: CsvUpload) -> ImportReport:
    await _check_campaign(session, principal, upload.campaign_id)
    header, records = _records(_decode(upload.content))
    columns, ignored = _columns(header, upload.mapping)
    checked = check_rows(header, records, columns, await lead_pipeline.product_ids_by_sku(session))
    if checked.errors and upload.mode is ImportMode.ALL_OR_NOTHING:
        raise RuleViolation(
            f"{len(checked.errors)} problems in {len(records)} rows; nothing was imported.",
            errors=[msgspec.to_builtins(e) for e in checked.errors[:MAX_ERRORS_KEPT]],
            errors_total=len(checked.errors),
            rows=len(records),
        )
    record = await _record(session, principal, upload, len(records), len(checked.good), checked.errors, ignored)
    rows = await _scored(session, upload, [row for _, row in checked.good])
    duplicates = await _duplicates(session, rows)
    await lead_pipeline.create_many(
        session, rows, actor=principal, provenance=f"imported from {record.filename} (import {record.id})"
    )
    record.duplicates_flagged = await flag_duplicates(session, duplicates)
    await session.flush()
    return report_of(record)


async def _scored(session: AsyncSession, upload: CsvUpload, good: list[dict[str, Any]]) -> list[dict[str, Any]]:
    criteria = await criteria_in_force(session)
    rows = []
    for row in good:
        score = rules.score(attributes_of(row | {"source": upload.source.value}), criteria).value
        rows.append(
            row
            | {
                "id": new_id(),
                "score": score,
                "source": upload.source,
                "campaign_id": upload.campaign_id,
                "owner_id": None,
            }
        )
    return rows


async def _record(
    session: AsyncSession,
    principal: Principal,
    upload: CsvUpload,
    total: int,
    created: int,
    errors: list[RowError],
    ignored: list[str],
) -> LeadImport:
    record = LeadImport(
        filename=upload.filename[:200],
        mode=upload.mode.value,
        imported_by_id=principal.user_id,
        imported_at=session.info["clock"].now(),
        rows=total,
        created=created,
        skipped=total - created,
        duplicates_flagged=0,
        errors=[msgspec.to_builtins(e) for e in errors[:MAX_ERRORS_KEPT]],
        errors_total=len(errors),
        ignored_columns=ignored,
    )
    session.add(record)
    await session.flush()
    return record


def report_of(record: LeadImport) -> ImportReport:
    return ImportReport(
        import_id=record.id,
        filename=record.filename,
        mode=ImportMode(record.mode),
        rows=record.rows,
        created=record.created,
        skipped=record.skipped,
        duplicates_flagged=record.duplicates_flagged,
        errors=[msgspec.convert(e, RowError) for e in record.errors],
        errors_total=record.errors_total,
        ignored_columns=list(record.ignored_columns),
    )
