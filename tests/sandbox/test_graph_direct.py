"""A run's hot Graph requests sent without the request adapter's per-call layer (shared/graph/direct.py) put the
same bytes on the wire as msgraph-sdk's adapter (`send_primitive_async`, the request builders, the SDK's
sendMail models), and Graph's answers (errors, throttling) reach the caller as before."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from kiota_abstractions.headers_collection import HeadersCollection
from kiota_abstractions.method import Method
from kiota_abstractions.request_information import RequestInformation
from msgraph.generated.models.body_type import BodyType
from msgraph.generated.models.email_address import EmailAddress
from msgraph.generated.models.item_body import ItemBody
from msgraph.generated.models.message import Message
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.generated.models.recipient import Recipient
from msgraph.generated.users.item.send_mail.send_mail_post_request_body import SendMailPostRequestBody

from sandbox.seed import CONTOSO_TENANT_ID
from shared.graph import GraphClientFactory, batch_payload, direct, reads
from shared.graph.batch import BatchStep, send_batch
from shared.graph.errors import error_map
from shared.primitives import mailbox_rules
from shared.primitives.notify import send_mail, send_mail_body

from .helpers import ADELE_UPN, SENDER_UPN, Probe

# Per request, these differ between any two sends (a new id; the sandbox's unsigned token carries the second).
VARIES = {"client-request-id", "authorization"}


class Recorder:
    """The requests as the loop's Graph transport receives them, after msgraph's middleware."""

    def __init__(self, factory: GraphClientFactory):
        self.sent: list[dict[str, Any]] = []
        pool = factory.transport()
        send = pool.handle_async_request

        async def record(request: httpx.Request) -> httpx.Response:
            self.sent.append({"method": request.method, "url": str(request.url), "body": request.content,
                              "headers": [(k.lower(), "<varies>" if k.lower() in VARIES else v)
                                          for k, v in request.headers.multi_items()]})
            return await send(request)

        pool.handle_async_request = record

    def take(self) -> list[dict[str, Any]]:
        sent, self.sent = self.sent, []
        return sent


@pytest.fixture
async def graph(factory: GraphClientFactory):
    client = factory.for_tenant(CONTOSO_TENANT_ID)
    assert direct.usable(client.request_adapter)
    return client


STEPS = [BatchStep("read", "GET", f"/users/{ADELE_UPN}?$select=id,accountEnabled"),
         BatchStep("again", "GET", f"/users/{ADELE_UPN}?$select=id", depends_on=("read",))]


async def test_a_batch_is_the_adapters_request(factory, graph):
    recorder = Recorder(factory)
    results = await send_batch(graph, STEPS)
    assert results["read"].status == 200 and results["read"].body["accountEnabled"] in (True, False)
    info = RequestInformation(Method.POST, "{+baseurl}/$batch")
    info.headers = HeadersCollection()
    info.headers.try_add("Content-Type", "application/json")
    info.headers.try_add("Accept", "application/json")
    info.content = json.dumps(batch_payload(STEPS)).encode()
    direct_sent = recorder.take()
    raw = await graph.request_adapter.send_primitive_async(info, "bytes", error_map())
    assert json.loads(raw)["responses"]
    assert direct_sent == recorder.take() and len(direct_sent) == 1


async def test_a_list_read_is_the_builders_request(factory, graph):
    recorder = Recorder(factory)
    rules = await mailbox_rules.list_rules(graph, ADELE_UPN)
    direct_sent = recorder.take()
    request = mailbox_rules.inbox_rules(graph, ADELE_UPN).to_get_request_information()
    raw = await graph.request_adapter.send_primitive_async(request, "bytes", error_map())
    assert [reads.without_nulls(r) for r in json.loads(raw)["value"]] == rules
    assert direct_sent == recorder.take() and len(direct_sent) == 1


@pytest.mark.parametrize(("subject", "content", "to"), [
    ("[Riposte] HIGH: Sign-in from \"an unfamiliar\" place <script>", "Users: adele\nRaised: now\n\tü € 𝄞 \\ \u0007",
     ["servicedesk@yourmsp.com.au", "soc@yourmsp.com.au"]),
    ("one", "", ["a@b.example"]),
])
async def test_sendmail_is_the_sdks_request(factory, graph, probe: Probe, subject, content, to):
    recorder = Recorder(factory)
    await send_mail(graph, SENDER_UPN, subject, content, to)
    direct_sent = recorder.take()
    message = Message(subject=subject, body=ItemBody(content_type=BodyType.Text, content=content),
                      to_recipients=[Recipient(email_address=EmailAddress(address=a)) for a in to])
    await graph.users.by_user_id(SENDER_UPN).send_mail.post(SendMailPostRequestBody(message=message,
                                                                                    save_to_sent_items=False))
    assert direct_sent == recorder.take() and len(direct_sent) == 1
    assert direct_sent[0]["body"] == send_mail_body(subject, content, to)
    mails = [m for m in probe.outbox() if m.get("subject") == subject]
    assert len(mails) == 2


async def test_graphs_errors_and_throttling_reach_the_caller_as_before(factory, graph, probe: Probe):
    path = f"/users/{SENDER_UPN}/sendMail$"
    probe.fault(method="POST", pathRegex=path, status=403, times=1)
    with pytest.raises(ODataError) as refused:
        await send_mail(graph, SENDER_UPN, "refused", "body", ["a@b.example"])
    assert refused.value.response_status_code == 403 and refused.value.error.code
    recorder = Recorder(factory)
    probe.fault(method="POST", pathRegex=path, status=429, retryAfter=0.05, times=1)
    await send_mail(graph, SENDER_UPN, "throttled once", "body", ["a@b.example"])  # the middleware's retry
    sent = recorder.take()
    assert len(sent) == 2 and ("retry-attempt", "1") in sent[1]["headers"]
