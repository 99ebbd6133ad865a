"""File, URL and domain evidence kept by each source that carries it (issue 16 follow-up): hashes validated (an
invalid one dropped, never an error), counts capped, the same file seen twice merged."""

import copy

import pytest

from shared.alert_payloads import normalize_payload
from shared.alert_payloads.entities import MAX_PER_KIND, EntityCollector
from shared.models.alert import FileEntity
from tests.alert_payloads import load_payload

SHA1 = "5f1e8acedc065031aad553b710838eb366cfee9a"
SHA256 = "8963a19fb992ad9a76576c5638fd68292cffb9aaac29eb8285f9abf6196a7dec"
MD5 = "0123456789abcdef0123456789abcdef"
TENANT = "b3c1b5fc-828c-45fa-a1e1-10d74f6d6e9c"


def normalize_one(body):
    [alert] = normalize_payload(body)
    return alert


def graph_alert(*evidence):
    return {"@odata.type": "#microsoft.graph.security.alert", "id": "da-1", "tenantId": TENANT, "severity": "high",
            "title": "t", "createdDateTime": "2024-04-27T12:19:27Z", "evidence": list(evidence)}


def test_documented_graph_alert_keeps_its_file_once_from_file_and_process_evidence():
    alert = normalize_one(load_payload("graph_security_alert.json"))
    assert alert.entities.files == [FileEntity(sha1=SHA1, sha256=SHA256, name="hidden.exe",
                                               path="C:\\Users\\Public\\temp")]


def test_graph_url_dns_and_file_hash_evidence():
    alert = normalize_one(graph_alert(
        {"@odata.type": "#microsoft.graph.security.urlEvidence", "url": "https://evil.example/login?x=1"},
        {"@odata.type": "#microsoft.graph.security.urlEvidence", "url": "evil.example/p"},
        {"@odata.type": "#microsoft.graph.security.dnsEvidence", "domainName": "C2.Evil.Example."},
        {"@odata.type": "#microsoft.graph.security.fileHashEvidence", "algorithm": "md5", "value": MD5.upper()},
        {"@odata.type": "#microsoft.graph.security.fileHashEvidence", "algorithm": "sha256ac", "value": SHA256},
    ))
    assert alert.entities.urls == ["https://evil.example/login?x=1", "evil.example/p"]
    assert alert.entities.domains == ["c2.evil.example"]
    assert alert.entities.files == [FileEntity(md5=MD5)]  # sha256ac is not a hash Defender's indicators take


@pytest.mark.parametrize("details", [
    {"sha1": "not-a-hash", "fileName": "a.exe"},
    {"sha1": SHA1[:-1]},
    {"sha256": SHA1},  # a SHA-1 where a SHA-256 belongs
    {"sha1": None, "sha256": None, "fileName": "services.exe"},
    {"sha1": ["x" * 40]},
    {"sha1": "g" * 40},
])
def test_a_file_without_a_valid_hash_is_dropped_not_refused(details):
    alert = normalize_one(graph_alert({"@odata.type": "#microsoft.graph.security.fileEvidence",
                                       "fileDetails": details}))
    assert alert.entities.files == []


@pytest.mark.parametrize("value", [
    "javascript:alert(1)", "ftp://evil.example/x", "https://evil.example/a b", "https://", "http://[::1",
    "https://evil.example/\nInjected: header", "https://" + "a" * 2050 + ".example", 42, {"url": "x"},
    "https://user:pw@/x",
])
def test_unusable_urls_are_dropped(value):
    alert = normalize_one(graph_alert({"@odata.type": "#microsoft.graph.security.urlEvidence", "url": value}))
    assert alert.entities.urls == []


@pytest.mark.parametrize("value", ["192.0.2.1", "*.evil.example", "evil", "evil.example:443", "evil.example/x",
                                   "-evil.example", "a" * 64 + ".example"])
def test_unusable_domains_are_dropped(value):
    alert = normalize_one(graph_alert({"@odata.type": "#microsoft.graph.security.dnsEvidence", "domainName": value}))
    assert alert.entities.domains == []


def test_counts_are_capped():
    evidence = [{"@odata.type": "#microsoft.graph.security.fileHashEvidence", "algorithm": "sha1",
                 "value": f"{i:040x}"} for i in range(MAX_PER_KIND + 50)]
    evidence += [{"@odata.type": "#microsoft.graph.security.urlEvidence", "url": f"https://e{i}.example/"}
                 for i in range(MAX_PER_KIND + 50)]
    alert = normalize_one(graph_alert(*evidence))
    assert len(alert.entities.files) == MAX_PER_KIND
    assert len(alert.entities.urls) == MAX_PER_KIND


def test_files_merge_on_a_shared_hash_but_not_when_another_contradicts():
    collector = EntityCollector()
    collector.add_file(sha1=SHA1, name="a.exe")
    collector.add_file(sha1=SHA1.upper(), sha256=SHA256, path="C:\\x")
    collector.add_file(sha256=SHA256, md5=MD5)
    collector.add_file(sha1="f" * 40, sha256=SHA256)  # same SHA-256, another SHA-1: not the same file
    assert collector.build().files == [
        FileEntity(sha1=SHA1, sha256=SHA256, md5=MD5, name="a.exe", path="C:\\x"),
        FileEntity(sha1="f" * 40, sha256=SHA256),
    ]


def test_defender_incident_reads_its_alerts_file_and_url_evidence():
    body = load_payload("defender_incident_expanded.json")
    body = copy.deepcopy(body)
    body["alerts"][0]["evidence"] += [
        {"@odata.type": "#microsoft.graph.security.fileEvidence", "fileDetails": {"sha1": SHA1, "fileName": "x.exe"}},
        {"@odata.type": "#microsoft.graph.security.urlEvidence", "url": "https://evil.example/"},
    ]
    alert = normalize_one(body)
    assert alert.entities.files == [FileEntity(sha1=SHA1, name="x.exe")]
    assert alert.entities.urls == ["https://evil.example/"]


def _sentinel_entity(kind, name, **properties):
    return {"id": f"/subscriptions/d0cfe6b2-9ac0-4464-9919-dccaee2e48c0/resourceGroups/rg/providers/"
                  f"Microsoft.OperationalInsights/workspaces/ws/providers/Microsoft.SecurityInsights/Entities/{name}",
            "name": name, "type": "Microsoft.SecurityInsights/Entities", "kind": kind, "properties": properties}


def test_sentinel_file_with_its_hash_entities_url_and_dns_entities():
    body = copy.deepcopy(load_payload("sentinel_incident_automation.json"))
    body["object"]["properties"]["relatedEntities"] += [
        _sentinel_entity("File", "f1", fileName="evil.exe", directory="C:\\Temp",
                         fileHashEntityIds=["h1", _sentinel_entity("FileHash", "h2")["id"]]),
        _sentinel_entity("FileHash", "h1", algorithm="SHA1", hashValue=SHA1.upper()),
        _sentinel_entity("FileHash", "h2", algorithm="SHA256", hashValue=SHA256),
        _sentinel_entity("FileHash", "h3", algorithm="MD5", hashValue=MD5),  # named by no File: a file of its own
        _sentinel_entity("FileHash", "h4", algorithm="SHA1", hashValue="zz"),
        _sentinel_entity("Url", "u1", url="https://evil.example/payload"),
        _sentinel_entity("DnsResolution", "d1", domainName="evil.example"),
    ]
    alert = normalize_one(body)
    assert alert.entities.files == [FileEntity(sha1=SHA1, sha256=SHA256, name="evil.exe", path="C:\\Temp"),
                                    FileEntity(md5=MD5)]  # cmd.exe of the sample has no hash: not kept
    assert alert.entities.urls == ["https://evil.example/payload"]
    assert alert.entities.domains == ["evil.example"]


def test_generic_files_urls_and_domains():
    alert = normalize_one({"schema": "riposte.alert.v1", "alertId": "a-1", "severity": "low",
                           "files": [{"sha256": SHA256, "name": "x.exe"}, SHA1, "nothex", MD5],
                           "urls": "https://evil.example/", "domains": ["evil.example", "not a domain"]})
    assert alert.entities.files == [FileEntity(sha256=SHA256, name="x.exe"), FileEntity(sha1=SHA1),
                                    FileEntity(md5=MD5)]
    assert alert.entities.urls == ["https://evil.example/"]
    assert alert.entities.domains == ["evil.example"]
