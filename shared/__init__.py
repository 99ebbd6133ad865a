"""Riposte's own code: models, settings and services shared by triggers, orchestrations and activities."""
