# ruff: noqa: RUF001  (Cyrillic letters that look Latin are the point of these names)
"""A Salesforce Lead export as Salesforce writes it: its standard column labels, every cell quoted,
a UTF-8 byte order mark, CRLF between records and bare newlines inside quoted cells."""

from __future__ import annotations

import csv
import io

HEADER = [
    "First Name",
    "Last Name",
    "Title",
    "Company",
    "Email",
    "Phone",
    "Mobile",
    "Lead Source",
    "Lead Status",
    "Street",
    "City",
    "State/Province",
    "Zip/Postal Code",
    "Country",
    "No. of Employees",
    "Annual Revenue",
    "Industry",
    "Rating",
    "Website",
    "Description",
    "Lead Owner",
    "Created Date",
]
IGNORED = [
    "Mobile",
    "Lead Source",
    "Lead Status",
    "Street",
    "City",
    "Zip/Postal Code",
    "Annual Revenue",
    "Industry",
    "Rating",
    "Website",
    "Lead Owner",
    "Created Date",
]

OYVIND = {
    "First Name": "Øyvind",
    "Last Name": "Åsheim",
    "Title": "CTO",
    "Company": "Fjord Kraft AS",
    "Email": "oyvind.asheim@fjordkraft.example",
    "Phone": "+47 22 33 44 55",
    "Lead Source": "Web",
    "Lead Status": "Open - Not Contacted",
    "Street": "Karl Johans gate 1\nOppgang B",
    "City": "Oslo",
    "State/Province": "Oslo",
    "Zip/Postal Code": "0154",
    "Country": "Norway",
    "No. of Employees": "250",
    "Annual Revenue": "12,000,000",
    "Industry": "Energy",
    "Rating": "Hot",
    "Website": "www.fjordkraft.example",
    "Description": "Wants SD-WAN for three sites: Oslo, Bergen and Tromsø.\nCall after 10:00, not on Fridays.",
    "Lead Owner": "Kari Nordmann",
    "Created Date": "02.12.2026",
}
THORUNN = {
    "First Name": "Þórunn",
    "Last Name": "Guðmundsdóttir",
    "Title": "Framkvæmdastjóri",
    "Company": "Hekla Hugbúnaður ehf.",
    "Email": "thorunn@hekla.example",
    "City": "Reykjavík",
    "State/Province": "Höfuðborgarsvæðið",
    "Country": "Ísland",
    "No. of Employees": "40",
    "Lead Source": "Partner Referral",
}
DMITRY = {
    "First Name": "Дмитрий",
    "Last Name": "Иванов",
    "Company": "ООО «Ромашка»",
    "Email": "d.ivanov@romashka.example",
    "City": "Москва",
    "State/Province": "Москва",
    "Country": "Россия",
    "No. of Employees": "120",
}
JURGEN = {
    "First Name": "Jürgen",
    "Last Name": "Müller",
    "Company": "Müller Maschinenbau GmbH",
    "Email": "j.mueller@mueller-maschinenbau.example",
    "State/Province": "Bayern",
    "Country": "Deutschland",
    "No. of Employees": "1200",
}
HANS = {
    "First Name": "Hans",
    "Last Name": "Schmidt",
    "Company": "Schmidt & Söhne KG",
    "Country": "Germany",
    "No. of Employees": "15",
}


def export(*rows: dict[str, str]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
    writer.writerow(HEADER)
    for row in rows:
        writer.writerow([row.get(column, "") for column in HEADER])
    return "\ufeff".encode() + buffer.getvalue().encode()


def lines_of(row: dict[str, str]) -> int:
    """How many physical lines a record takes (its cells' own newlines included)."""
    return 1 + sum(value.count("\n") for value in row.values())
