"""Lead distribution's API controllers, in one list for `prm.app.API_CONTROLLERS`."""

from __future__ import annotations

from prm.lead_distribution.routes.leads import DistributionLeadController, ImportController
from prm.lead_distribution.routes.offers import DecisionController, OfferController
from prm.lead_distribution.routes.public import WebToLeadController
from prm.lead_distribution.routes.referrals import MembershipController, ReferralController, ReferralProgramController
from prm.lead_distribution.routes.setup import (
    CertificationController,
    GroupController,
    LeadProgramController,
    RuleController,
    ScoringController,
    WebFormController,
)

CONTROLLERS: list[type] = [
    DistributionLeadController,
    ImportController,
    OfferController,
    DecisionController,
    ScoringController,
    LeadProgramController,
    CertificationController,
    GroupController,
    RuleController,
    WebFormController,
    WebToLeadController,
    ReferralProgramController,
    MembershipController,
    ReferralController,
]
