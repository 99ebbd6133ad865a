"""State in Azure Table Storage (Azurite locally): playbooks, tenants, alerts with their runs, audit."""
