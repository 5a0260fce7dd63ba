"""Connect rules: connections and their handshake, publish/subscribe/map, sharing and sync."""
