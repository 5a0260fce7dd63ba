"""Admin pages: partners, deal programs with their approval rules, users, shark-tank groups and
webhooks. Each is a thin layer over the same domain services the API calls: a form is checked
against the API's own Struct, a refusal is shown next to its field with nothing written, and a
form that worked redirects back with what just happened (post/redirect/get)."""
