"""Control flow inside a playbook: waits, re-checked conditions, branches and approval gates."""
