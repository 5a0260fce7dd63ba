"""Lead distribution: vendor leads from intake to a partner (or an internal rep) and into an opportunity.

The lead row is the CRM's (`prm.crm.models.Lead`); its status and facts change only through
`prm.crm.services.lead_pipeline` and `lead_conversion`, which the services here call. This package
owns what happens around it. Pages and benchmarks call the same services as the API:

- `service.intake`: `create` (scored, duplicates flagged), `details`/`details_many`, `queue`,
  `submit_web_lead`; `service.imports.import_csv` (CSV, per-row report);
- `service.qualification`: `qualify`, `disqualify`, `merge`;
- `service.routing`: `route_manually`, `route_by_rules`, `route_many_by_rules`, `reroute_many`,
  `decisions_of`, `replay` (targets tried in `service.targets`, eligibility in
  `service.eligibility`, pure rules in `rules`; what a request reads once in `service.lookups`,
  decisions written together in `service.decisions`; the leads each partner holds are kept in
  `repository.loads`);
- `service.offers`: `list_offers` (inbox, shark-tank board), `get_offer`, `accept`, `decline`, `claim`;
- `service.conversion.convert`; `service.referrals` (programs, memberships, referrals, fees);
- `service.setup` / `service.routing_rules` / `service.scoring`: the vendor's configuration;
- `service.timers` and `referrals.credit_won_referrals`: the jobs registered by `jobs.register_jobs`.
"""
