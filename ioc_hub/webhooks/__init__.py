"""Webhooks: endpoints, the outbox notifications go through, and the dispatcher that delivers
them (docs/design.md §9, Webhooks)."""
