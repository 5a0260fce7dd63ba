"""Lead distribution pages: the partner's inbox, the channel team's lead console and routing
rules, imports and conversion. Thin over `prm.lead_distribution` and `prm.crm`."""
