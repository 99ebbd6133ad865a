"""Matching alerts to playbooks: an index over stored playbooks, with a recorded decision per playbook.

    index = PlaybookIndex.build(playbooks, tenant_groups)  # shared/matching/index.py
    index.match(alert)     # decisions for every playbook considered, matched or not, with reasons
    index.matching(alert)  # just the matched playbooks

The package itself imports nothing: a store that keeps decisions (shared/matching/decision.py) does not load the
matching engine with them.
"""
