"""Parameter schema of shared/primitives/http_request.py: an enrichment request whose JSON answer becomes facts.

The URL's scheme, host and port are static (checked here, and against the deployment's allow-lists when the
playbook is saved and again when the step runs: shared/outbound_guard.py); its path and query may be templates
over the alert (`https://rep.example/ip/{{ alert.ips[0]|urlencode }}`). Header values are literal, or named secrets
(`secretHeaders`: header -> secret name, shared/secrets.py), never a secret's value.
"""

from __future__ import annotations

import re
from typing import Annotated, ClassVar, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field, StringConstraints, model_validator

from shared.api_model import CamelModel
from shared.schemas.webhook import SecretName, _webhook_url
from shared.templates import check_template

MAX_URL = 2048
MAX_BODY_TEMPLATE = 8000
MAX_HEADERS = 20
MAX_TIMEOUT_SECONDS = 30
# Fact names a step may not take: the facts Riposte itself reads (`facts.user`, `facts.device`).
RESERVED_FACTS = frozenset({"user", "device"})
FACT_NAME = re.compile(r"^[a-z][A-Za-z0-9_]{0,39}$")
_HEADER_NAME = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,64}$")
# A literal header with one of these in its name would put a credential in the playbook: secretHeaders instead.
CREDENTIAL_WORDS = ("key", "token", "secret", "auth", "password", "signature")
# Set by the client from the request itself: a playbook may not override them.
FORBIDDEN_HEADERS = frozenset({"host", "content-length", "transfer-encoding", "connection", "upgrade", "te",
                               "proxy-authorization", "expect"})


def _static_origin(value: str) -> str:
    check_template(value)  # template syntax and variables, as every template
    parts = urlsplit(value)
    if "{" in parts.netloc or "{" in parts.scheme or "%" in parts.netloc:
        raise ValueError("the scheme, host and port must be written out (templates may appear in the path and "
                         "query only), so the host can be checked against the allow-list")
    if not parts.hostname:
        raise ValueError("the URL has no host")
    # https (http to loopback only), no credentials in the URL, no address no deployment may reach
    _webhook_url(f"{parts.scheme}://{parts.netloc}/")
    return value


def _fact_name(value: str) -> str:
    if not FACT_NAME.match(value):
        raise ValueError("a fact name starts with a lower-case letter, then letters, digits or '_' (at most 40)")
    if value in RESERVED_FACTS:
        raise ValueError(f"'{value}' is the name of the facts Riposte reads itself; choose another")
    return value


def _header_name(value: str) -> str:
    if not _HEADER_NAME.match(value):
        raise ValueError("a header name is 1-64 letters, digits or !#$%&'*+.^_`|~-")
    if value.lower() in FORBIDDEN_HEADERS:
        raise ValueError(f"the {value} header is set from the request itself")
    return value


def _literal_header_name(value: str) -> str:
    lowered = value.lower()
    if lowered in ("authorization", "cookie") or any(word in lowered for word in CREDENTIAL_WORDS):
        raise ValueError(f"{value} looks like it carries a credential: name its secret in secretHeaders instead")
    return value


def _header_value(value: str) -> str:
    if any(c in value for c in "\r\n\0"):
        raise ValueError("a header value cannot hold a line break")
    return value


RequestUrl = Annotated[str, StringConstraints(min_length=8, max_length=MAX_URL), AfterValidator(_static_origin)]
FactName = Annotated[str, AfterValidator(_fact_name)]
HeaderName = Annotated[str, AfterValidator(_header_name)]
LiteralHeaderName = Annotated[str, AfterValidator(_header_name), AfterValidator(_literal_header_name)]
HeaderValue = Annotated[str, StringConstraints(max_length=1024), AfterValidator(_header_value)]
BodyTemplate = Annotated[str, StringConstraints(max_length=MAX_BODY_TEMPLATE), AfterValidator(check_template)]


class HttpRequestParams(CamelModel):
    type: Literal["http_request"]
    destructive: ClassVar[bool] = False
    method: Literal["GET", "POST"] = "GET"
    url: RequestUrl
    headers: dict[LiteralHeaderName, HeaderValue] = Field(default_factory=dict, max_length=MAX_HEADERS)
    # header -> the name of the secret holding its whole value (e.g. "Bearer ..."); never the value itself.
    secret_headers: dict[HeaderName, SecretName] = Field(default_factory=dict, max_length=MAX_HEADERS)
    body: BodyTemplate | None = None  # POST only: rendered from the alert, sent as application/json
    save_as: FactName  # later conditions and templates read the answer as facts.<saveAs>
    timeout_seconds: int = Field(default=10, ge=1, le=MAX_TIMEOUT_SECONDS)  # the whole request, answer included

    @model_validator(mode="after")
    def _consistent(self) -> HttpRequestParams:
        if self.body is not None and self.method != "POST":
            raise ValueError("body is sent with method POST only")
        both = {h.lower() for h in self.headers} & {h.lower() for h in self.secret_headers}
        if both:
            raise ValueError(f"header {sorted(both)[0]} is given both in headers and in secretHeaders")
        return self

    @property
    def host(self) -> str:
        return (urlsplit(self.url).hostname or "").lower()
