"""Inbox rules through msgraph-sdk, as plain JSON dicts (what a step records and rollback reads back).

``GET/POST /users/{id}/mailFolders/inbox/messageRules``, ``PATCH/DELETE .../messageRules/{ruleId}``
(graph-contract.md §2.6): PATCH answers 200 with the whole rule; rule ids contain ``=`` (and may
contain ``+`` or ``/``), which the SDK percent-encodes in the path; ``isReadOnly`` rules cannot be
changed through REST at all.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from shared.graph import reads

if TYPE_CHECKING:
    from msgraph import GraphServiceClient
    from msgraph.generated.models.message_rule import MessageRule
    from msgraph.generated.users.item.mail_folders.item.message_rules.message_rules_request_builder import (
        MessageRulesRequestBuilder,
    )

# The actions that send mail on: forwardTo and forwardAsAttachmentTo keep the original in the mailbox,
# redirectTo hands it on as if it came from the original sender.
FORWARDING_ACTIONS = ("forwardTo", "forwardAsAttachmentTo", "redirectTo")
# What a rule is made of (everything a POST may carry): a deleted rule is re-created from these.
WRITABLE = ("displayName", "sequence", "isEnabled", "conditions", "exceptions", "actions")
MAX_PAGES = 20  # a mailbox holds a few dozen rules at most; a longer chain means something is wrong


# msgraph's model and serializers are imported by the functions that use them: any msgraph import loads
# its whole client stack, which `import function_app` should not pay for (shared/graph/errors.py).
def rule_json(rule: MessageRule) -> dict[str, Any]:
    from kiota_serialization_json.json_serialization_writer import JsonSerializationWriter

    writer = JsonSerializationWriter()
    writer.write_object_value(None, rule)
    return json.loads(writer.get_serialized_content() or b"{}")


def rule_model(data: dict[str, Any]) -> MessageRule:
    from kiota_serialization_json.json_parse_node import JsonParseNode
    from msgraph.generated.models.message_rule import MessageRule

    return JsonParseNode(data).get_object_value(MessageRule)


def inbox_rules(graph: GraphServiceClient, user_key: str) -> MessageRulesRequestBuilder:
    return graph.users.by_user_id(user_key).mail_folders.by_mail_folder_id("inbox").message_rules


def rule_path(user_path_key: str, rule_id: str) -> str:
    """The rule's URL below the version root, for a raw request such as a ``$batch`` item. Rule ids contain
    ``=`` and may contain ``+`` or ``/``: the segment is percent-encoded whole (``safe=''``), as the SDK does."""
    return (f"/users/{quote(user_path_key, safe='@')}/mailFolders/inbox/messageRules/"
            f"{quote(rule_id, safe='')}")


async def list_rules(graph: GraphServiceClient, user_key: str) -> list[dict[str, Any]]:
    """The inbox's rules as Graph's JSON, without nulls (what `rule_json` of the SDK's model gives, without
    parsing into the model: ~10 ms of CPU per rule, shared/graph/reads.py)."""
    return await reads.list_json(graph, inbox_rules(graph, user_key), max_pages=MAX_PAGES)


async def set_enabled(graph: GraphServiceClient, user_key: str, rule_id: str, enabled: bool) -> dict[str, Any]:
    from msgraph.generated.models.message_rule import MessageRule

    updated = await inbox_rules(graph, user_key).by_message_rule_id(rule_id).patch(MessageRule(is_enabled=enabled))
    return rule_json(updated) if updated is not None else {}


async def delete_rule(graph: GraphServiceClient, user_key: str, rule_id: str) -> None:
    await inbox_rules(graph, user_key).by_message_rule_id(rule_id).delete()


async def create_rule(graph: GraphServiceClient, user_key: str, snapshot: dict[str, Any]) -> dict[str, Any]:
    created = await inbox_rules(graph, user_key).post(rule_model(writable(snapshot)))
    return rule_json(created) if created is not None else {}


def writable(rule: dict[str, Any]) -> dict[str, Any]:
    """The rule without its server-made properties (id, hasError, isReadOnly): enough to re-create it."""
    return {k: rule[k] for k in WRITABLE if rule.get(k) is not None}


def recipients(rule: dict[str, Any]) -> list[str]:
    """Every address the rule forwards or redirects to (lower-case, in order, once each)."""
    actions = rule.get("actions") or {}
    found: list[str] = []
    for name in FORWARDING_ACTIONS:
        for recipient in actions.get(name) or []:
            address = ((recipient or {}).get("emailAddress") or {}).get("address")
            if isinstance(address, str) and address.lower() not in found:
                found.append(address.lower())
    return found


def domain_of(address: str | None) -> str | None:
    if not address or "@" not in address:
        return None
    return address.rsplit("@", 1)[1].strip().lower() or None


def is_external(address: str, internal_domain: str) -> bool:
    """Outside the tenant's domain (the user's UPN domain): neither it nor one of its subdomains."""
    domain = domain_of(address[5:] if address.lower().startswith("smtp:") else address) or ""
    return not (domain == internal_domain or domain.endswith("." + internal_domain))


def same_rule(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Whether two rules do the same thing (rollback does not re-create a rule that is back already)."""
    keys = ("displayName", "conditions", "exceptions", "actions")
    return all((a.get(k) or None) == (b.get(k) or None) for k in keys)


def label(rule: dict[str, Any]) -> dict[str, Any]:
    return {"id": rule.get("id"), "displayName": rule.get("displayName")}
