"""Subject conditions (trigger.userTypes / devicePlatforms) in matching_bench: what they cost intake.

Method:
- CPU per alert, without subject conditions (the world of matching_bench, none of whose playbooks has one):
  "before" is `index.match(alert)`, what intake decided before these conditions existed; "after" is
  `index.match(alert)` then, when some playbook has a subject condition, `decide_subject(...)`
  (shared/alert_recording.py): what intake runs now. Both loop
  over the same ALERTS warm alerts inside one coroutine (one event loop, as intake), timed with
  `time.process_time_ns` (this process's CPU, so other processes' load counts less than in wall time); ROUNDS
  rounds alternate before/after back to back; the median per-alert CPU of each and their ratio are printed, and
  "decide_subject alone": the same loop over decisions computed beforehand (what intake adds, without the
  noise of the matching around it).
- With subject conditions: the same world with SHARE of its playbooks given a userTypes or devicePlatforms
  condition (a third each kind, a third both). The lookup is a stand-in that answers at once and counts the
  alerts it was asked about (Graph's latency is not CPU): printed are the CPU per alert and the lookups per
  alert (mean, max: one at most by construction, shared by every playbook that asks), and the share of alerts
  that needed one (only those with a candidate that passed the other conditions).
- Graph requests (sandbox): SANDBOX_ALERTS Contoso alerts, each naming one of the sandbox's four users and one
  device at random, against four all-tenants playbooks asking for user types and platforms, through the real
  SubjectLookup and Graph client (in-process sandbox). Requests counted in the sandbox's call log, per alert:
  without the cache (ttl 0: every alert reads, at most 3 GETs: roles + userType together, the device) and with
  the default cache (CACHE_SECONDS).
"""

from __future__ import annotations

import asyncio
import gc
import random
import statistics
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from types import SimpleNamespace

from sandbox import SandboxServer
from sandbox.intune import ADELE_LAPTOP_AAD_ID, MEGAN_MAC_AAD_ID
from sandbox.seed import CONTOSO_TENANT_ID
from shared.alert_recording import decide_subject
from shared.graph import GraphAuthMode, GraphClientFactory, GraphSettings
from shared.matching.index import PlaybookIndex
from shared.matching.subject import Fact, Needs, SubjectFacts
from shared.models.alert import Alert, AlertEntities, DeviceEntity, UserEntity
from shared.models.playbook import Playbook, Trigger
from shared.models.tenant import TenantGroup
from shared.subject_lookup import CACHE_SECONDS, SubjectLookup

ROUNDS = 5
SHARE = 0.10
USER = UserEntity(id="87d349ed-44d7-43e1-9a83-5f2406dee5bd", upn="adele@contoso.com")
DEVICE = DeviceEntity(name="LT-1")


class CountingLookup:
    """Answers every subject at once (member, windows) and counts the alerts it was asked to complete."""

    def __init__(self) -> None:
        self.per_alert: dict[str, int] = {}

    async def complete(self, alert: Alert, facts: SubjectFacts, wanted: Needs) -> SubjectFacts:
        missing = facts.missing(wanted)
        if missing:
            self.per_alert[alert.id] = self.per_alert.get(alert.id, 0) + 1
        return SubjectFacts(facts.user or (Fact("member", "bench") if wanted.user else None),
                            facts.device or (Fact("windows", "bench") if wanted.device else None))


def with_subjects(playbooks: Sequence[Playbook], rng: random.Random) -> list[Playbook]:
    out = []
    for playbook in playbooks:
        if rng.random() < SHARE:
            kind = rng.randrange(3)
            update = {"user_types": ["admin"] if kind != 1 else None,
                      "device_platforms": ["windows", "macOS"] if kind != 0 else None}
            playbook = playbook.model_copy(update={"trigger": playbook.trigger.model_copy(update=update)})
        out.append(playbook)
    return out


def _about(alerts: Sequence[Alert]) -> list[Alert]:
    entities = AlertEntities(users=[USER], devices=[DEVICE])
    return [a.model_copy(update={"entities": entities}) for a in alerts]


async def _added_us(alerts: Sequence[Alert], index: PlaybookIndex, lookup) -> float:
    """CPU per alert of decide_subject alone, on decisions computed beforehand (what intake adds to matching)."""
    snapshot = SimpleNamespace(index=index)
    decided = [(alert, index.match(alert)) for alert in alerts]
    started = time.process_time_ns()
    for alert, decisions in decided:
        await decide_subject(alert, decisions, snapshot, lookup)
    return (time.process_time_ns() - started) / 1000 / len(alerts)


async def _cpu_per_alert_us(alerts: Sequence[Alert], index: PlaybookIndex, lookup, subject: bool) -> float:
    snapshot = SimpleNamespace(index=index)
    started = time.process_time_ns()
    if subject:  # as intake (AlertRecorder.record): decide_subject only when some playbook has a subject condition
        for alert in alerts:
            decisions = index.match(alert)
            if index.subject_playbooks:
                decisions = await decide_subject(alert, decisions, snapshot, lookup)
    else:
        for alert in alerts:
            index.match(alert)
    return (time.process_time_ns() - started) / 1000 / len(alerts)


def _alternate(loop: asyncio.AbstractEventLoop, alerts: Sequence[Alert], index: PlaybookIndex,
               lookup: CountingLookup) -> tuple[float, float, float]:
    """Median CPU per alert of index.match alone, of index.match + decide_subject (ROUNDS rounds alternating), and
    of decide_subject alone."""
    for alert in alerts:  # warm: verdict caches filled, as in matching_bench's warm figures
        index.match(alert)
    gc.collect()
    gc.freeze()  # the world and the index out of the GC's way, as matching_bench does (a worker should)
    before, after, added = [], [], []
    for _ in range(ROUNDS):
        before.append(loop.run_until_complete(_cpu_per_alert_us(alerts, index, lookup, False)))
        after.append(loop.run_until_complete(_cpu_per_alert_us(alerts, index, lookup, True)))
        added.append(loop.run_until_complete(_added_us(alerts, index, lookup)))
    return statistics.median(before), statistics.median(after), statistics.median(added)


def cpu_figures(playbooks: Sequence[Playbook], groups: Sequence[TenantGroup], alerts: Sequence[Alert]) -> None:
    alerts = _about(alerts)
    loop = asyncio.new_event_loop()
    try:
        print(f"subject conditions, CPU per alert ({len(alerts)} alerts, median of {ROUNDS} alternating rounds; "
              "before: index.match, after: + decide_subject):")
        lookup = CountingLookup()
        b, a, d = _alternate(loop, alerts, PlaybookIndex.build(playbooks, groups), lookup)
        print(f"  no playbook uses them:     before {b:7.1f} us, after {a:7.1f} us, after/before {a / b:.3f}; "
              f"decide_subject alone {d * 1000:.0f} ns; lookups {sum(lookup.per_alert.values())}")
        subject_index = PlaybookIndex.build(with_subjects(playbooks, random.Random(7)), groups)
        lookup = CountingLookup()
        b, a, d = _alternate(loop, alerts, subject_index, lookup)
        counts = [lookup.per_alert.get(alert.id, 0) / (2 * ROUNDS) for alert in alerts]
        print(f"  {SHARE:.0%} of playbooks use them ({len(subject_index.subject_playbooks)}): before {b:7.1f} us, "
              f"after {a:7.1f} us, decide_subject alone {d:.1f} us (stand-in lookup: no Graph latency); lookups per "
              "alert mean "
              f"{statistics.mean(counts):.2f}, max {max(counts):.0f}; alerts needing one "
              f"{sum(1 for c in counts if c) / len(alerts):.0%}")
    finally:
        loop.close()


def graph_request_figures(alert_count: int) -> None:
    # Adele (member), Megan (admin), the admin, the guest; Adele's Windows laptop, Megan's Mac
    users = [UserEntity(id=user_id) for user_id in ("87d349ed-44d7-43e1-9a83-5f2406dee5bd",
                                                    "48d31887-5fad-4d73-a9f5-3c356e68a038",
                                                    "f0c7b7a2-9e3d-4c1a-8d55-6b2f1e9a4c37",
                                                    "5e4f6a21-7c8b-4d9e-a0f1-2b3c4d5e6f70")]
    devices = [DeviceEntity(azure_ad_device_id=ADELE_LAPTOP_AAD_ID), DeviceEntity(azure_ad_device_id=MEGAN_MAC_AAD_ID)]
    triggers = [{"user_types": ["admin"]}, {"user_types": ["guest", "member"]},
                {"device_platforms": ["windows"]}, {"user_types": ["member"], "device_platforms": ["macOS"]}]
    stamp = datetime.now(UTC)
    playbooks = [Playbook(id=f"pb-s{n}", version=1, created_at=stamp, updated_at=stamp, name=f"subject {n}",
                          trigger=Trigger(**t), actions=[{"type": "disable_user"}]) for n, t in enumerate(triggers)]
    index = PlaybookIndex.build(playbooks, [])
    rng = random.Random(11)
    alerts = [Alert(id=f"al-s{n}", attribution="payload", received_at=stamp, source="generic",
                    source_alert_id=f"s{n}", tenant_id=CONTOSO_TENANT_ID, category="security", severity="high",
                    title="t", created_at=stamp, raw={},
                    entities=AlertEntities(users=[rng.choice(users)], devices=[rng.choice(devices)]))
              for n in range(alert_count)]

    async def run(server: SandboxServer, ttl: float) -> tuple[list[int], int]:
        factory = GraphClientFactory(GraphSettings(base_url=server.graph_url, auth_mode=GraphAuthMode.LOCAL_TOKEN,
                                                   client_id="riposte-bench"))
        lookup = SubjectLookup(factory, ttl=ttl)
        snapshot = SimpleNamespace(index=index)
        per_alert = []
        try:
            for alert in alerts:
                before = len(server.state.calls.list(CONTOSO_TENANT_ID))
                await decide_subject(alert, index.match(alert), snapshot, lookup)
                per_alert.append(len(server.state.calls.list(CONTOSO_TENANT_ID)) - before)
        finally:
            await factory.aclose()
        return per_alert, lookup.reads

    with SandboxServer() as server:
        print(f"subject conditions, Graph requests per alert ({alert_count} alerts, 4 subject playbooks, sandbox):")
        for label, ttl in (("no cache", 0.0), (f"cache ({CACHE_SECONDS:.0f} s)", CACHE_SECONDS)):
            server.state.reset()
            per_alert, reads = asyncio.run(run(server, ttl))
            print(f"  {label:<16} GET requests per alert mean {statistics.mean(per_alert):.2f}, "
                  f"max {max(per_alert)}; subjects read {reads}")

