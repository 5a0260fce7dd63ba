"""Lead distribution queries, one module per area; the stores and repositories are imported from here."""

from __future__ import annotations

from prm.lead_distribution.repository.config import (
    CertificationStore,
    ConfigStore,
    CriterionRepository,
    GroupRepository,
    ImportRepository,
    ProgramRepository,
    RuleRepository,
    WebFormRepository,
)
from prm.lead_distribution.repository.intake import DuplicateStore
from prm.lead_distribution.repository.offers import DecisionRepository, OfferRepository, OfferStore
from prm.lead_distribution.repository.referrals import (
    MembershipRepository,
    ReferralProgramRepository,
    ReferralRepository,
    ReferralStore,
)

__all__ = [
    "CertificationStore",
    "ConfigStore",
    "CriterionRepository",
    "DecisionRepository",
    "DuplicateStore",
    "GroupRepository",
    "ImportRepository",
    "MembershipRepository",
    "OfferRepository",
    "OfferStore",
    "ProgramRepository",
    "ReferralProgramRepository",
    "ReferralRepository",
    "ReferralStore",
    "RuleRepository",
    "WebFormRepository",
]
