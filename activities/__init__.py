"""Durable activities: the only place orchestrations touch the outside world."""
