"""Which credential the factory builds for each GRAPH_AUTH_MODE (construction only: no network)."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest
from azure.core.credentials import AccessToken
from azure.identity.aio import CertificateCredential, ClientAssertionCredential
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from sandbox.seed import CONTOSO_TENANT_ID
from shared.graph import GraphAuthMode, GraphClientFactory, GraphSettings, LocalTokenCredential
from shared.graph.credentials import TOKEN_EXCHANGE_SCOPE, ManagedIdentityAssertion


@pytest.fixture
def certificate_pem(tmp_path: Path) -> Path:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "riposte-test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256()))
    path = tmp_path / "graph.pem"
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        + cert.public_bytes(serialization.Encoding.PEM)
    )
    return path


async def test_certificate_mode_builds_a_certificate_credential(certificate_pem: Path) -> None:
    factory = GraphClientFactory(GraphSettings(auth_mode=GraphAuthMode.CERTIFICATE, client_id="app-id",
                                               certificate_path=str(certificate_pem)))

    async with factory.credential_for(CONTOSO_TENANT_ID) as credential:
        assert isinstance(credential, CertificateCredential)
    assert factory.for_tenant(CONTOSO_TENANT_ID) is factory.for_tenant(CONTOSO_TENANT_ID)
    await factory.aclose()


async def test_federated_mode_builds_a_client_assertion_credential() -> None:
    factory = GraphClientFactory(GraphSettings(client_id="app-id", managed_identity_client_id="mi-id"))
    assert factory.settings.auth_mode is GraphAuthMode.FEDERATED_MANAGED_IDENTITY

    async with factory.credential_for(CONTOSO_TENANT_ID) as credential:
        assert isinstance(credential, ClientAssertionCredential)
    factory.close_assertion()


async def test_local_mode_builds_a_local_token_credential(graph_settings: GraphSettings) -> None:
    factory = GraphClientFactory(graph_settings)

    async with factory.credential_for(CONTOSO_TENANT_ID) as credential:
        assert isinstance(credential, LocalTokenCredential)
        assert credential.tenant_id == CONTOSO_TENANT_ID


def test_assertion_is_a_managed_identity_token_for_token_exchange() -> None:
    class FakeManagedIdentity:
        def __init__(self) -> None:
            self.scopes: list[tuple[str, ...]] = []

        def get_token(self, *scopes: str, **kwargs: object) -> AccessToken:
            self.scopes.append(scopes)
            return AccessToken(f"mi-token-{len(self.scopes)}", 0)

    identity = FakeManagedIdentity()
    assertion = ManagedIdentityAssertion("mi-id", credential=identity)

    assert assertion() == "mi-token-1"
    assert identity.scopes == [(TOKEN_EXCHANGE_SCOPE,)]
