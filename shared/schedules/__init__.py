"""Scheduled playbooks: a schedule (NCRONTAB in a time zone) plus a population query evaluated per tenant;
each target found becomes one finding that runs through intake like any alert (docs/alert-sources.md)."""
