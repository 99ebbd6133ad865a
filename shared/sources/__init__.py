"""Pulled alert sources per tenant: which Graph feeds Riposte polls for a tenant (config), and where
each poll stands (state). Pollers come in a later increment; this package is their contract."""
