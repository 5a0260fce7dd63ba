"""CSV import of vendor leads: header mapping (a Salesforce Lead export maps by itself), per-row
validation naming each row's physical line, all-or-nothing or skip-bad-rows, duplicate flags
naming the line or lead duplicated, and inserts in batches while the file is read.

The file is read as a stream (import_file.CsvFile) in batches of a few hundred rows, each checked
in a worker thread, so a 60 MB file neither fills memory nor stalls the event loop. In
all-or-nothing mode the first bad row stops the inserts; the rest is still checked so the
report lists every problem, and the refusal rolls back what was inserted.

Text that a spreadsheet would run as a formula (=, +, -, @) is kept as typed: it is data here,
and prm.core.csv_export neutralises it in any CSV the app writes.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import IO, Annotated, Any

import msgspec
from anyio import to_thread
from msgspec import Meta
from sqlalchemy.ext.asyncio import AsyncSession

from prm.core.auth import Principal
from prm.core.db import new_id
from prm.core.errors import NotFound, RuleViolation
from prm.crm.models import LeadSource, TimeFrame
from prm.crm.normalize import UnknownCountry, normalize_country
from prm.crm.schemas import Country, Currency, Email, Employees, LeadNotes, MinorUnits, Name, Phone, ShortText
from prm.crm.services import lead_pipeline
from prm.crm.services.campaigns import get_campaign
from prm.lead_distribution import rules
from prm.lead_distribution.models import LeadImport
from prm.lead_distribution.schemas import DuplicateRow, ImportMode, ImportReport, RowError
from prm.lead_distribution.service.import_file import CsvFile, Record, fold
from prm.lead_distribution.service.intake import flag_duplicates, probe_of
from prm.lead_distribution.service.scoring import attributes_of, criteria_in_force

MAX_ERRORS_KEPT = 1_000
REQUIRED = ("first_name", "last_name", "company")
# Header spellings people and CRMs use (Salesforce's export labels and API names included), folded
# to lower case letters and digits ("No. of Employees" -> "noofemployees").
ALIASES = {
    "firstname": "first_name",
    "givenname": "first_name",
    "lastname": "last_name",
    "surname": "last_name",
    "familyname": "last_name",
    "company": "company",
    "companyname": "company",
    "companyaccount": "company",
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
    "stateprovince": "region",
    "statecode": "region",
    "stateprovincecode": "region",
    "employees": "employees",
    "numberofemployees": "employees",
    "noofemployees": "employees",
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
    current_situation: LeadNotes | None = None
    product_sku: Annotated[str, Meta(max_length=64)] | None = None
    time_frame: TimeFrame | None = None
    budget_minor: MinorUnits | None = None
    currency: Currency | None = None


FIELD_TYPES: dict[str, Any] = {f.name: f.type for f in msgspec.structs.fields(ImportRow)}


@dataclass(frozen=True)
class CsvUpload:
    filename: str
    file: IO[bytes]  # read as a stream, never whole
    mode: ImportMode
    mapping: dict[str, str] | None
    source: LeadSource
    campaign_id: uuid.UUID | None


# Mapping the header --------------------------------------------------------------------------


def _columns(header: list[str], mapping: dict[str, str] | None) -> tuple[dict[int, str], list[str]]:
    """Column index -> field, from the caller's mapping (CSV header -> field) or the known aliases.
    Recognised by alias, a second column for a field (Salesforce's Country next to Country Code)
    is ignored; mapped by hand, it is a mistake."""
    columns: dict[int, str] = {}
    ignored = []
    for index, name in enumerate(header):
        field_name = mapping.get(name.strip()) if mapping is not None else ALIASES.get(fold(name))
        if field_name is None or (mapping is None and field_name in columns.values()):
            ignored.append(name)
            continue
        if field_name not in FIELD_TYPES:
            raise RuleViolation(f"Column {name!r} is mapped to unknown field {field_name!r}.", field="mapping")
        if field_name in columns.values():
            raise RuleViolation(f"Two columns are mapped to {field_name}.", field="mapping")
        columns[index] = field_name
    missing = [f for f in REQUIRED if f not in columns.values()]
    if missing:
        raise RuleViolation(f"No column for {', '.join(missing)}; map one.", field="mapping", missing=missing)
    return columns, ignored


# Validating rows -----------------------------------------------------------------------------


def _cleaned(cells: list[str], columns: dict[int, str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for index, name in columns.items():
        cell = cells[index].strip() if index < len(cells) else ""
        if cell:
            values[name] = cell
    if "currency" in values:
        values["currency"] = values["currency"].upper()
    if "time_frame" in values:
        values["time_frame"] = values["time_frame"].lower()
    return values


def _field_errors(values: dict[str, Any]) -> list[tuple[str, str]]:
    """Every bad field of a row (the slow path, only for rows that failed as a whole)."""
    errors = [(f, "required") for f in REQUIRED if f not in values]
    for name, value in values.items():
        try:
            msgspec.convert(value, FIELD_TYPES[name], strict=False)
        except msgspec.ValidationError as exc:
            errors.append((name, str(exc).split(" - at ")[0]))
    return errors


@dataclass(frozen=True)
class Columns:
    width: int
    fields: dict[int, str]
    skus: dict[str, uuid.UUID]


@dataclass
class Checked:
    good: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)


def _country_error(line: int, values: dict[str, Any]) -> list[RowError]:
    if "country" not in values:
        return []
    try:
        values["country"] = normalize_country(values["country"])
    except UnknownCountry as exc:
        return [RowError(line=line, field="country", message=str(exc))]
    return []


def _check_row(line: int, cells: list[str], columns: Columns) -> tuple[dict[str, Any] | None, list[RowError]]:
    if len(cells) != columns.width:
        message = f"has {len(cells)} cells; the header has {columns.width}"
        return None, [RowError(line=line, field="row", message=message)]
    values = _cleaned(cells, columns.fields)
    errors = _country_error(line, values)
    try:
        row = msgspec.to_builtins(msgspec.convert(values, ImportRow, strict=False))
    except msgspec.ValidationError:
        flagged = {e.field for e in errors}
        errors += [RowError(line=line, field=f, message=m) for f, m in _field_errors(values) if f not in flagged]
    if errors:
        return None, sorted(errors, key=lambda e: e.field)
    sku = row.pop("product_sku", None)
    if sku is not None:
        if sku.lower() not in columns.skus:
            return None, [RowError(line=line, field="product_sku", message=f"no active product with SKU {sku!r}")]
        row["product_id"] = columns.skus[sku.lower()]
    if row.get("email"):
        row["email"] = row["email"].lower()
    return row, []


def check_rows(records: list[Record], columns: Columns) -> Checked:
    checked = Checked()
    for line, cells in records:
        row, errors = _check_row(line, cells, columns)
        if row is None:
            checked.errors += errors
        else:
            checked.good.append((line, row))
    return checked


def _read_and_check(csv_file: CsvFile, columns: Columns, upload: CsvUpload, criteria: Any) -> Checked | None:
    """The next batch of the file, checked and its good rows scored (run in a worker thread, so
    the event loop stays free for other requests); None at the end."""
    records = csv_file.next_batch()
    if not records:
        return None
    checked = check_rows(records, columns)
    checked.good = [(line, _scored(upload, row, criteria)) for line, row in checked.good]
    return checked


# Duplicates ----------------------------------------------------------------------------------


@dataclass
class ImportedLines:
    """The line of each row this import inserted so far, by the lead's id (as an int: no object
    per row for the garbage collector to walk). Earlier batches' rows are matched in the database
    (they are inserted, in this transaction) like the leads held before; only this map, about 100
    bytes a row, outlives a batch. Keeping each row's keys in memory instead took a 60 MB file's
    import 80 MB up, and the collector's full passes over them held up every other request."""

    line_of: dict[int, int] = field(default_factory=dict)

    def line(self, lead_id: uuid.UUID) -> int | None:
        return self.line_of.get(lead_id.int)

    def add(self, line: int, lead_id: uuid.UUID) -> None:
        self.line_of[lead_id.int] = line


def _earlier_in_batch(rows: list[dict[str, Any]]) -> dict[uuid.UUID, list[uuid.UUID]]:
    """Each row's matches among the rows before it in the same batch (not inserted yet)."""
    by_email: dict[str, list[uuid.UUID]] = {}
    by_person: dict[tuple[str, str, str], list[uuid.UUID]] = {}
    earlier: dict[uuid.UUID, list[uuid.UUID]] = {}
    for row in rows:
        probe, person = probe_of(row), _person(row)
        matches = list(by_email.get(probe.email, [])) if probe.email else []
        matches += [i for i in by_person.get(person, []) if i not in matches]
        if matches:
            earlier[row["id"]] = matches
        if probe.email:
            by_email.setdefault(probe.email, []).append(row["id"])
        by_person.setdefault(person, []).append(row["id"])
    return earlier


def _person(row: dict[str, Any]) -> tuple[str, str, str]:
    probe = probe_of(row)
    return probe.company_normalized, probe.first_name.strip().lower(), probe.last_name.strip().lower()


async def _duplicates(
    session: AsyncSession, lines: list[int], rows: list[dict[str, Any]], imported: ImportedLines
) -> tuple[dict[uuid.UUID, list[tuple[uuid.UUID, list[str]]]], list[DuplicateRow]]:
    """Each row's possible duplicates among the leads held before this import and the earlier
    rows of the file (matched_on "in_file"); the report names the line or lead duplicated."""
    held = await lead_pipeline.find_duplicates(session, {row["id"]: probe_of(row) for row in rows})
    in_batch = _earlier_in_batch(rows)
    batch_lines = {row["id"]: line for line, row in zip(lines, rows, strict=True)}
    found: dict[uuid.UUID, list[tuple[uuid.UUID, list[str]]]] = {}
    report: list[DuplicateRow] = []
    for line, row in zip(lines, rows, strict=True):
        in_file: list[tuple[int, uuid.UUID]] = []
        for hit in held.get(row["id"], []):
            other_line = imported.line(hit.lead_id)
            if other_line is not None:
                in_file.append((other_line, hit.lead_id))
                continue
            found.setdefault(row["id"], []).append((hit.lead_id, hit.matched_on))
            report.append(DuplicateRow(line=line, matched_on=hit.matched_on, duplicate_of_lead_id=hit.lead_id))
        in_file.sort(key=lambda pair: pair[0])
        in_file += [(batch_lines[other], other) for other in in_batch.get(row["id"], [])]
        for other_line, other in in_file:
            found.setdefault(row["id"], []).append((other, ["in_file"]))
            report.append(DuplicateRow(line=line, matched_on=["in_file"], duplicate_of_line=other_line))
    for line, row in zip(lines, rows, strict=True):
        imported.add(line, row["id"])
    return found, report


# The import ----------------------------------------------------------------------------------


async def _check_campaign(session: AsyncSession, principal: Principal, campaign_id: uuid.UUID | None) -> None:
    if campaign_id is not None:
        try:
            await get_campaign(session, principal=principal, campaign_id=campaign_id)
        except NotFound as exc:
            raise RuleViolation(exc.detail, field="campaign_id") from exc


@dataclass
class Progress:
    import_id: uuid.UUID
    created: int = 0
    errors: list[RowError] = field(default_factory=list)
    errors_total: int = 0
    duplicates: list[DuplicateRow] = field(default_factory=list)
    duplicates_flagged: int = 0
    imported: ImportedLines = field(default_factory=ImportedLines)

    def refuse(self, errors: list[RowError]) -> None:
        self.errors += errors[: MAX_ERRORS_KEPT - len(self.errors)]
        self.errors_total += len(errors)


async def import_csv(session: AsyncSession, *, principal: Principal, upload: CsvUpload) -> ImportReport:
    await _check_campaign(session, principal, upload.campaign_id)
    csv_file = await to_thread.run_sync(CsvFile, upload.file)
    fields, ignored = _columns(csv_file.header, upload.mapping)
    columns = Columns(len(csv_file.header), fields, await lead_pipeline.product_ids_by_sku(session))
    criteria = await criteria_in_force(session)
    progress = Progress(import_id=new_id())
    while (checked := await to_thread.run_sync(_read_and_check, csv_file, columns, upload, criteria)) is not None:
        progress.refuse(checked.errors)
        if progress.errors_total and upload.mode is ImportMode.ALL_OR_NOTHING:
            continue  # nothing will be kept: only the report of every problem is still wanted
        await _insert(session, principal, upload, checked.good, progress)
    if progress.errors_total and upload.mode is ImportMode.ALL_OR_NOTHING:
        raise RuleViolation(
            f"{progress.errors_total} problems in {csv_file.rows} rows; nothing was imported.",
            errors=[msgspec.to_builtins(e) for e in progress.errors],
            errors_total=progress.errors_total,
            rows=csv_file.rows,
        )
    record = _record(session, principal, upload, csv_file.rows, progress, ignored)
    await session.flush()
    return report_of(record)


async def _insert(
    session: AsyncSession,
    principal: Principal,
    upload: CsvUpload,
    good: list[tuple[int, dict[str, Any]]],
    progress: Progress,
) -> None:
    if not good:
        return
    rows = [row for _, row in good]
    found, report = await _duplicates(session, [line for line, _ in good], rows, progress.imported)
    provenance = f"imported from {upload.filename[:200]} (import {progress.import_id})"
    await lead_pipeline.create_many(session, rows, actor=principal, provenance=provenance)
    progress.duplicates_flagged += await flag_duplicates(session, found)
    progress.duplicates += report[: MAX_ERRORS_KEPT - len(progress.duplicates)]
    progress.created += len(rows)


def _scored(upload: CsvUpload, row: dict[str, Any], criteria: Any) -> dict[str, Any]:
    score = rules.score(attributes_of(row | {"source": upload.source.value}), criteria).value
    return row | {
        "id": new_id(),
        "score": score,
        "source": upload.source,
        "campaign_id": upload.campaign_id,
        "owner_id": None,
    }


def _record(
    session: AsyncSession, principal: Principal, upload: CsvUpload, total: int, progress: Progress, ignored: list[str]
) -> LeadImport:
    record = LeadImport(
        id=progress.import_id,
        filename=upload.filename[:200],
        mode=upload.mode.value,
        imported_by_id=principal.user_id,
        imported_at=session.info["clock"].now(),
        rows=total,
        created=progress.created,
        skipped=total - progress.created,
        duplicates_flagged=progress.duplicates_flagged,
        errors=[msgspec.to_builtins(e) for e in progress.errors],
        errors_total=progress.errors_total,
        ignored_columns=ignored,
        duplicates=[msgspec.to_builtins(d) for d in progress.duplicates],
    )
    session.add(record)
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
        duplicates=[msgspec.convert(d, DuplicateRow) for d in record.duplicates],
    )
