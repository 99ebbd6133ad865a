"""HTTP, Event Grid, Service Bus and timer entry points: thin registrations over code in shared/."""
