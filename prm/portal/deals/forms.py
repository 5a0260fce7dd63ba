"""The deal registration form: read what the partner typed, check it field by field, build the Structs.

Each field is checked against the same msgspec type the API uses (so the limits live in one
place), but the messages are written for people and land next to the field they are about.
A refused form comes back exactly as typed, because the form keeps everything as text.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from typing import Any

import msgspec
from litestar.datastructures import FormMultiDict

from prm.crm.normalize import UnknownCountry, normalize_country
from prm.deal_registration.models import DealProgram
from prm.deal_registration.schemas import (
    ProductLine,
    RegistrationCreate,
    RegistrationDetails,
    RegistrationRead,
    RegistrationUpdate,
)
from prm.portal.shell.attempts import GENERAL, Refusal, field_messages
from prm.portal.shell.money import AmountError, format_minor, parse_amount, plain_amount

PRODUCT_ROWS = 3  # rows shown without JavaScript; empty rows are ignored
MAX_PRODUCT_ROWS = 50  # the schema's limit

# The form's text fields that map one to one onto RegistrationDetails.
TEXT_FIELDS = (
    "customer_name",
    "customer_website",
    "customer_country",
    "contact_name",
    "contact_email",
    "contact_phone",
    "contact_title",
    "current_situation",
    "expected_close_date",
)
# The order the form shows its fields in (for the error summary and the first field to focus).
FORM_ORDER = [
    "program_id",
    "customer_name",
    "customer_website",
    "customer_country",
    "contact_name",
    "contact_title",
    "contact_email",
    "contact_phone",
    "products",
    "estimated_amount",
    "expected_close_date",
    "current_situation",
]
LABELS = {
    "program_id": "Program",
    "customer_name": "Customer company",
    "customer_website": "Website",
    "customer_country": "Country",
    "contact_name": "Contact name",
    "contact_email": "Contact email",
    "contact_phone": "Contact phone",
    "contact_title": "Contact title",
    "estimated_amount": "Estimated amount",
    "current_situation": "Current situation",
    "expected_close_date": "Expected close date",
    "products": "Products",
}
_HELP = {
    "customer_name": "Enter the customer's company name (at most 200 characters).",
    "customer_website": "Enter a web address like https://www.example.com.",
    "customer_country": "Enter the country's name or ISO code, like Germany or DE.",
    "contact_name": "Enter the contact's name in at most 200 characters.",
    "contact_email": "Enter the contact's email address, like name@example.com.",
    "contact_phone": "Enter the contact's phone number in at most 50 characters.",
    "contact_title": "Enter the contact's title in at most 200 characters.",
    "current_situation": "Describe the current situation in at most 5,000 characters.",
    "expected_close_date": "Enter the expected close date, like 2026-06-30.",
}
# Service field names that the form shows under another name.
_FORM_FIELD = {"estimated_amount_minor": "estimated_amount", "currency": "program_id", "amount_minor": "amount"}
_DETAIL_TYPES = {f.name: f.type for f in msgspec.structs.fields(RegistrationDetails)}


@dataclass(frozen=True)
class ProgramChoice:
    id: str
    name: str
    currency: str
    margin_bps: int
    benefits: str
    required_fields: tuple[str, ...]
    min_deal_minor: int

    @property
    def requirements(self) -> str:
        """ "Products, Estimated amount" - what the program requires, in the form's words."""
        return ", ".join(LABELS.get(name, name) for name in form_names(self.required_fields))


@dataclass(frozen=True)
class ProductChoice:
    id: str
    name: str
    sku: str


@dataclass
class ProductRow:
    product_id: str = ""
    quantity: str = "1"


@dataclass
class DealForm:
    """What the partner typed, kept as text."""

    program_id: str = ""
    customer_name: str = ""
    customer_website: str = ""
    customer_country: str = ""
    contact_name: str = ""
    contact_email: str = ""
    contact_phone: str = ""
    contact_title: str = ""
    estimated_amount: str = ""
    current_situation: str = ""
    expected_close_date: str = ""
    products: list[ProductRow] = field(default_factory=list)
    action: str = "submit"

    def padded(self) -> DealForm:
        """The same form with empty product rows added up to PRODUCT_ROWS, for showing it."""
        missing = max(0, PRODUCT_ROWS - len(self.products))
        self.products = self.products + [ProductRow() for _ in range(missing)]
        return self


def form_names(service_fields: Iterable[str]) -> list[str]:
    """Service field names as the form's field names (the amount is typed as a decimal)."""
    return [_FORM_FIELD.get(name, name) for name in service_fields]


def read_form(form: FormMultiDict) -> DealForm:
    names = [f.name for f in fields(DealForm) if f.name != "products"]
    values = {name: str(form.get(name) or "") for name in names}
    rows = [
        ProductRow(str(product), str(quantity))
        for product, quantity in zip(form.getall("product_id"), form.getall("quantity"), strict=False)
    ]
    return DealForm(**values, products=rows[:MAX_PRODUCT_ROWS])


def form_from(read: RegistrationRead) -> DealForm:
    """A registration as a filled-in form (to edit a draft, or to resubmit with more information)."""
    values = {name: "" if getattr(read, name) is None else str(getattr(read, name)) for name in TEXT_FIELDS}
    rows = [ProductRow(str(line.product_id), str(line.quantity)) for line in read.products]
    return DealForm(
        program_id=str(read.program_id),
        estimated_amount=plain_amount(read.estimated_amount_minor, read.currency),
        products=rows,
        **values,
    )


def _normalised(name: str, value: str) -> str:
    value = value.strip()
    if name == "customer_website" and value and "://" not in value:
        return f"https://{value}"  # people type "umbrella.example"; the schema wants a URL
    return value


def _text_values(form: DealForm, errors: dict[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name in TEXT_FIELDS:
        text = _normalised(name, getattr(form, name))
        if name == "customer_name" and not text:
            errors[name] = "Enter the customer's company name."
            continue
        if name == "customer_country" and text:
            try:
                text = normalize_country(text)
            except UnknownCountry:
                errors[name] = _HELP[name]
                continue
        try:
            values[name] = msgspec.convert(text or None, _DETAIL_TYPES[name])
        except msgspec.ValidationError:
            errors[name] = _HELP[name]
    return values


def _product_lines(form: DealForm, products: dict[str, ProductChoice], errors: dict[str, str]) -> list[ProductLine]:
    lines: list[ProductLine] = []
    for index, row in enumerate(form.products):
        if not row.product_id:
            continue
        if row.product_id not in products:
            errors["products"] = f"Row {index + 1}: choose a product from the list."
            continue
        try:
            line = msgspec.convert({"product_id": row.product_id, "quantity": row.quantity}, ProductLine, strict=False)
        except msgspec.ValidationError:
            errors[f"quantity_{index}"] = "Enter a whole number from 1 to 1,000,000."
            continue
        lines.append(line)
    if len({line.product_id for line in lines}) != len(lines):
        errors["products"] = "List each product once; put the total in its quantity."
    return lines


def _amount(form: DealForm, currency: str, errors: dict[str, str]) -> int | None:
    if not form.estimated_amount.strip():
        return None
    try:
        return parse_amount(form.estimated_amount, currency)
    except AmountError as exc:
        errors["estimated_amount"] = str(exc)
        return None


def details(
    form: DealForm, *, currency: str, products: dict[str, ProductChoice]
) -> tuple[dict[str, Any], dict[str, str]]:
    """The RegistrationDetails fields from the form, and the message for each field that is wrong."""
    errors: dict[str, str] = {}
    values = _text_values(form, errors)
    values["products"] = _product_lines(form, products, errors)
    values["estimated_amount_minor"] = _amount(form, currency, errors)
    values["customer_domain"] = None  # derived from the website by the service
    return values, errors


def _program(form: DealForm, programs: dict[str, ProgramChoice], errors: dict[str, str]) -> ProgramChoice | None:
    program = programs.get(form.program_id)
    if program is None:
        errors["program_id"] = "Choose one of the programs open to your organisation."
    return program


def registration_create(
    form: DealForm, *, programs: dict[str, ProgramChoice], products: dict[str, ProductChoice]
) -> tuple[RegistrationCreate | None, dict[str, str]]:
    """A new registration (a draft, or submitted at once when the partner pressed Submit)."""
    errors: dict[str, str] = {}
    program = _program(form, programs, errors)
    values, field_errors = details(form, currency=program.currency if program else "", products=products)
    errors.update(field_errors)
    if errors or program is None:
        return None, errors
    data = RegistrationCreate(program_id=uuid.UUID(program.id), submit=form.action == "submit", **values)
    return data, errors


def registration_update(
    form: DealForm, *, currency: str, products: dict[str, ProductChoice], expected_version: int
) -> tuple[RegistrationUpdate | None, dict[str, str]]:
    values, errors = details(form, currency=currency, products=products)
    if errors:
        return None, errors
    return RegistrationUpdate(expected_version=expected_version, **values), errors


def registration_details(
    form: DealForm, *, currency: str, products: dict[str, ProductChoice]
) -> tuple[RegistrationDetails | None, dict[str, str]]:
    values, errors = details(form, currency=currency, products=products)
    if errors:
        return None, errors
    return RegistrationDetails(**values), errors


def service_errors(refusal: Refusal, program: ProgramChoice | DealProgram | None = None) -> dict[str, str]:
    """A service's refusal as messages next to the registration form's fields."""
    return friendly_errors(field_messages(refusal), program)


def friendly_errors(errors: dict[str, str], program: ProgramChoice | DealProgram | None = None) -> dict[str, str]:
    """Service field names as the form's, and the program's requirement messages in people's words."""
    named = {_FORM_FIELD.get(name, name): message for name, message in errors.items()}
    return {name: _friendly(name, message, program) for name, message in named.items()}


def _friendly(name: str, message: str, program: ProgramChoice | DealProgram | None) -> str:
    if message == "required by the program":
        if name == "products":
            return "Add at least one product: this program requires it."
        return f"{LABELS.get(name, name)} is required by this program."
    if name == "estimated_amount" and program is not None and program.min_deal_minor:
        return f"This program registers deals of at least {format_minor(program.min_deal_minor, program.currency)}."
    return message[:1].upper() + message[1:]


def error_summary(errors: dict[str, str]) -> list[tuple[str, str, str]]:
    """(field id, prefix, message) for each field error, in form order, for the summary above a form.

    The messages name their field already; only a product row needs its row number in front.
    """
    found = []
    for key, message in sorted(errors.items(), key=lambda item: _position(item[0])):
        if key == GENERAL:
            continue
        if key.startswith("quantity_"):
            row = int(key.removeprefix("quantity_"))
            found.append((key, f"Quantity in row {row + 1}", message))
        elif key == "products":
            found.append(("product_id_0", "", message))
        else:
            found.append((key, "", message))
    return found


def _position(key: str) -> int:
    name = "products" if key.startswith("quantity_") else key
    return FORM_ORDER.index(name) if name in FORM_ORDER else len(FORM_ORDER)
