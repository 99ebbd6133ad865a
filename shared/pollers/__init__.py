"""Pollers of the pulled sources (docs/alert-sources.md, "Pulled sources"): read a tenant's Graph feed
for one claimed window and hand every record to intake. Plain code; triggers/pollers.py registers the
timer that runs a cycle."""
