"""The deal registration catalog (a program and products), for the operations tests."""

from tests.deal_registration.conftest import catalog

__all__ = ["catalog"]
