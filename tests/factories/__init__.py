"""Shared factories: `service` makes records through the services in a unit of work (for
service-level tests); `deals` makes them through the HTTP API as the actors of the `World` would."""
