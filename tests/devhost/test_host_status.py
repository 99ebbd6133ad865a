"""GET /admin/host/status answers `state` as Azure's host does, and locally what runs now: the engine's
activity slots and the activities holding them, each queue listener, the timers. Tests that wait on a run in
vain print it (tests/api/helpers.host_state), to tell a stopped listener or full slots from a slow machine."""

from __future__ import annotations

import json
import threading
import time
import uuid

import azure.durable_functions as df
import httpx

from devhost.durable_api import client_binding
from devhost.durable_engine import ACTIVITY_SLOTS
from tests.devhost import sample_app
from tests.devhost.test_finished_instances import sample_devhost


def status(host) -> dict:
    answer = httpx.get(f"{host.origin}/admin/host/status").json()
    assert answer["state"] == "Running"
    return answer["devhost"]


def test_the_app_host_reports_its_engine_queue_listeners_and_timers(app_devhost):
    local = status(app_devhost)
    assert local["engine"]["dispatching"] is True and local["engine"]["activitySlots"] == ACTIVITY_SLOTS
    assert local["timers"] is True
    assert local["queues"] and all(q["listening"] for q in local["queues"].values()), local["queues"]


def test_an_activity_holding_a_slot_is_named_with_its_instance_and_age(loop_thread):
    host = sample_devhost(loop_thread, "StatusHub")
    key, instance_id = uuid.uuid4().hex, uuid.uuid4().hex
    released = sample_app.HELD.setdefault(key, threading.Event())
    try:
        client = df.DurableOrchestrationClient(json.dumps(client_binding(host.origin, host.engine.task_hub)))
        loop_thread.run(client.start_new("held_orchestrator", instance_id=instance_id, client_input={"key": key}))
        deadline = time.monotonic() + 15
        while not (engine := status(host)["engine"])["activitiesRunning"]:
            assert time.monotonic() < deadline, engine
            time.sleep(0.02)
        assert [(a["activity"], a["instanceId"]) for a in engine["oldestRunning"]] == [("held", instance_id)]
        assert engine["oldestRunning"][0]["seconds"] >= 0 and engine["activitiesWaiting"] == 0
        released.set()
        deadline = time.monotonic() + 15
        while status(host)["engine"]["activitiesRunning"]:
            assert time.monotonic() < deadline, "the slot was not given back"
            time.sleep(0.02)
    finally:
        released.set()
        sample_app.HELD.pop(key, None)
        loop_thread.run(host.stop())
