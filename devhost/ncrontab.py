"""The devhost's timer schedules use the app's NCRONTAB parser (shared/ncrontab.py), so a timer and a
scheduled playbook read the same expression the same way."""

from shared.ncrontab import Schedule

__all__ = ["Schedule"]
