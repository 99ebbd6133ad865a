"""The ``demo`` seed: two tenants, each with a member, admins, a guest and a notification mailbox.

Ids are fixed so docs, tests and demo playbooks can name them; change them here only.
"""

from __future__ import annotations

from typing import Any

from .models import TenantSpec, UserSpec

CONTOSO_TENANT_ID = "11111111-1111-4111-8111-111111111111"
CONTOSO_DOMAIN = "contoso-demo.onmicrosoft.com"
FABRIKAM_TENANT_ID = "22222222-2222-4222-8222-222222222222"
FABRIKAM_DOMAIN = "fabrikam-demo.onmicrosoft.com"

# Well-known, tenant-independent directory role template ids.
GLOBAL_ADMIN_TEMPLATE_ID = "62e90394-69f5-4237-9190-012177145e10"
USER_ADMIN_TEMPLATE_ID = "fe930be7-5e62-47db-91af-98c3a49a38b1"

_CREATED = "2024-03-04T09:15:00Z"


def _role(role_id: str, name: str, template_id: str, description: str) -> dict[str, Any]:
    return {
        "@odata.type": "#microsoft.graph.directoryRole",
        "id": role_id,
        "deletedDateTime": None,
        "description": description,
        "displayName": name,
        "roleTemplateId": template_id,
    }


def _group(group_id: str, name: str) -> dict[str, Any]:
    return {
        "@odata.type": "#microsoft.graph.group",
        "id": group_id,
        "displayName": name,
        "mailEnabled": False,
        "securityEnabled": True,
    }


def _member(user_id: str, given: str, surname: str, upn: str, job: str, **extra: Any) -> UserSpec:
    return UserSpec(
        id=user_id,
        userPrincipalName=upn,
        displayName=f"{given} {surname}",
        givenName=given,
        surname=surname,
        jobTitle=job,
        mail=upn,
        usageLocation="US",
        businessPhones=["+1 425 555 0109"],
        mobilePhone=None,
        officeLocation="18/2111",
        preferredLanguage="en-US",
        department=extra.pop("department", None),
        createdDateTime=_CREATED,
        **extra,
    )


def _guest(user_id: str, home_mail: str, tenant_domain: str, display_name: str) -> UserSpec:
    return UserSpec(
        id=user_id,
        userPrincipalName=f"{home_mail.replace('@', '_')}#EXT#@{tenant_domain}",
        displayName=display_name,
        userType="Guest",
        mail=home_mail,
        otherMails=[home_mail],
        externalUserState="Accepted",
        createdDateTime=_CREATED,
    )


def _notification_mailbox(user_id: str, domain: str) -> UserSpec:
    # A shared mailbox: its account is disabled (as Exchange creates it) but app-only sendMail works.
    return UserSpec(
        id=user_id,
        userPrincipalName=f"riposte@{domain}",
        displayName="Riposte Notifications",
        accountEnabled=False,
        mail=f"riposte@{domain}",
        hasMailbox=True,
        createdDateTime=_CREATED,
    )


def contoso() -> TenantSpec:
    d = CONTOSO_DOMAIN
    all_company = _group("a7c3a0d5-3e4f-4b61-8c3e-0f6f4a7e9b21", "All Company")
    user_admin = _role(
        "21004afc-7bb2-4fe6-a1e1-074ebd3e52c1", "User Administrator", USER_ADMIN_TEMPLATE_ID,
        "Can manage all aspects of users and groups, including resetting passwords for limited admins.",
    )
    global_admin = _role(
        "c6a1f1d4-0b3e-4b8e-9a57-2f0d4b1f6c10", "Global Administrator", GLOBAL_ADMIN_TEMPLATE_ID,
        "Can manage all aspects of Microsoft Entra ID and Microsoft services that use Microsoft Entra identities.",
    )
    return TenantSpec(
        id=CONTOSO_TENANT_ID,
        displayName="Contoso Demo",
        domain=d,
        users=[
            _member("87d349ed-44d7-43e1-9a83-5f2406dee5bd", "Adele", "Vance", f"adele.vance@{d}", "Retail Manager",
                    department="Retail", memberOf=[all_company], manager=f"admin@{d}"),
            _member("48d31887-5fad-4d73-a9f5-3c356e68a038", "Megan", "Bowen", f"megan.bowen@{d}", "Marketing Manager",
                    department="Marketing", memberOf=[all_company, user_admin]),
            _member("f0c7b7a2-9e3d-4c1a-8d55-6b2f1e9a4c37", "MOD", "Administrator", f"admin@{d}", "IT Administrator",
                    department="IT", memberOf=[global_admin]),
            _guest("5e4f6a21-7c8b-4d9e-a0f1-2b3c4d5e6f70", "alex.wilber@fabrikam.com", d, "Alex Wilber (Fabrikam)"),
            _notification_mailbox("9b8a7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d", d),
        ],
    )


def fabrikam() -> TenantSpec:
    d = FABRIKAM_DOMAIN
    global_admin = _role(
        "0d7e3c5a-1f2b-4c6d-8e9f-a1b2c3d4e5f6", "Global Administrator", GLOBAL_ADMIN_TEMPLATE_ID,
        "Can manage all aspects of Microsoft Entra ID and Microsoft services that use Microsoft Entra identities.",
    )
    return TenantSpec(
        id=FABRIKAM_TENANT_ID,
        displayName="Fabrikam Demo",
        domain=d,
        users=[
            _member("e1f2a3b4-c5d6-4e7f-8a9b-0c1d2e3f4a5b", "Diego", "Siciliani", f"diego.siciliani@{d}", "HR Manager",
                    department="HR"),
            _member("3a4b5c6d-7e8f-4a9b-8c0d-1e2f3a4b5c6d", "Lynne", "Robbins", f"lynne.robbins@{d}",
                    "Planning Lead", department="Operations", memberOf=[global_admin]),
            _guest("6c5d4e3f-2a1b-4c9d-8e7f-6a5b4c3d2e1f", f"adele.vance@{CONTOSO_DOMAIN}", d, "Adele Vance (Contoso)"),
            _notification_mailbox("7d6e5f4a-3b2c-4d1e-9f8a-7b6c5d4e3f2a", d),
        ],
    )


def demo_tenants() -> list[TenantSpec]:
    return [contoso(), fabrikam()]


def empty_tenants() -> list[TenantSpec]:
    return []


SEEDS = {"demo": demo_tenants, "empty": empty_tenants}
