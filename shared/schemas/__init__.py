"""Parameter schemas: what a playbook's actions accept, as pydantic models (the lowest layer, beside the models).

One module per primitive family (named as its handlers' module in shared/primitives/) and one for the flow
actions (flow.py); `primitives.py` lists every primitive's schema by name. Nothing here acts or stores: the
handlers, their permissions and their undo are the domain's (shared/primitives/registry.py)."""
