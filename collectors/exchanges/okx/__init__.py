"""OKX API v5 adapter: wire structs, pure parsers, subscriptions (see docs/exchange-protocols.md §1)."""
