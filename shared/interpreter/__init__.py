"""The playbook run interpreter: the run's rules as a pure state machine (machine.py), typed commands out
(commands.py), typed events in (events.py). Drivers: the Durable orchestrator, `make try`."""
