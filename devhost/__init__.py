"""A local stand-in for the Azure Functions host: serves function_app.py unchanged on 127.0.0.1.

The real host (Core Tools) cannot be installed here. This package indexes the app's functions
through `app.get_functions()`, serves HTTP triggers under /api, runs orchestrators and activities
on the durabletask in-memory engine through a Durable-Functions-shaped context, serves the Durable
HTTP management API the client binding talks to, and invokes other triggers through /admin.
"""
