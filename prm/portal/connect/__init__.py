"""Connect pages: linked instances, invitations, published and subscribed fields, shared records.
Thin over `prm.connect`."""
