"""Deal registration pages: the partner's registrations and forms, the channel managers' review
queue, proofs, extensions and credits. Thin over `prm.deal_registration` and `prm.credits`."""
