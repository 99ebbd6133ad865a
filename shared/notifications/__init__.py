"""Graph change notifications for pulled sources (docs/alert-sources.md, "Notifications")."""
