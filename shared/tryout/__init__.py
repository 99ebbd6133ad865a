"""`make try`: a playbook on an alert, offline. The playbook and the alert are validated and normalized as
the API does; the match decision is the intake's; the run is the real interpreter (shared/interpreter/)
answered by a simulation (executor.py) from a facts file instead of Graph, people and time."""
