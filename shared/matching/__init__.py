"""Matching alerts to playbooks: an index over stored playbooks, with a recorded decision per playbook.

    index = PlaybookIndex.build(playbooks, tenant_groups)
    index.match(alert)     # decisions for every playbook considered, matched or not, with reasons
    index.matching(alert)  # just the matched playbooks
"""

from shared.matching.decision import ConditionOutcome, MatchDecision
from shared.matching.index import PlaybookIndex
from shared.matching.naive import naive_match, naive_matching

__all__ = ["ConditionOutcome", "MatchDecision", "PlaybookIndex", "naive_match", "naive_matching"]
