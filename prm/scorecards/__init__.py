"""Scorecards: the read side over CRM, deal registration, lead distribution and credits."""
