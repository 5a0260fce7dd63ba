"""The shell every page sits in: sessions and sign-in, the layout and its filters, error pages,
forms that leave nothing half-written, money on pages, the home page and the mailbox."""
