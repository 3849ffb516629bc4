"""TLS: certificates are verified by default, so nothing (credentials included) reaches a server
whose certificate the client cannot trust; a CA bundle makes a private CA trusted.

The sandbox serves HTTPS with a certificate from a throwaway CA made by the `openssl` command.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from proforma_io.auth import BasicCredentials
from proforma_io.client import ProformaClient
from proforma_io.config import JiraSettings, SandboxSettings
from proforma_io.errors import ApiConnectionError, ConfigError
from proforma_io.load import ApiTarget, open_client
from proforma_io.models import ExportRequest
from proforma_io.sandbox import Sandbox, SandboxData

ADMIN = BasicCredentials("admin", "admin")
HR = ExportRequest(type="responses-json", project_key="HR", template_form_id=3)


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """A CA certificate, and a server certificate and key for 127.0.0.1 that it signed."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is needed to make test certificates")
    folder = tmp_path_factory.mktemp("tls")
    ca_key, ca = folder / "ca.key", folder / "ca.pem"
    key, request, certificate = folder / "server.key", folder / "server.csr", folder / "server.pem"
    extensions = folder / "server.ext"
    extensions.write_text("subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
    commands = [
        ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", ca_key, "-out", ca,
         "-days", "2", "-subj", "/CN=Proforma test CA"],
        ["req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", request,
         "-subj", "/CN=127.0.0.1"],
        ["x509", "-req", "-in", request, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial",
         "-out", certificate, "-days", "2", "-extfile", extensions],
    ]  # fmt: skip
    for command in commands:
        subprocess.run(["openssl", *map(str, command)], check=True, capture_output=True)
    return ca, certificate, key


@pytest.fixture(scope="module")
def https(certificates: tuple[Path, Path, Path]) -> Iterator[Sandbox]:
    _, certificate, key = certificates
    data = SandboxData.generated(seed=2, issues_per_project=2)
    with Sandbox(data, export_seconds=0, tls=(certificate, key)).running() as running:
        yield running


def test_a_certificate_the_client_cannot_trust_is_refused_before_anything_is_sent(
    https: Sandbox,
) -> None:
    before = len(https.stats.requests)
    waits: list[float] = []

    with (
        ProformaClient(https.base_url, credentials=ADMIN, retry_sleep=waits.append) as client,
        pytest.raises(ApiConnectionError, match="CERTIFICATE_VERIFY_FAILED"),
    ):
        client.start_export(HR)

    assert https.base_url.startswith("https://127.0.0.1:")
    assert len(https.stats.requests) == before
    assert waits == []  # a certificate does not become trusted by waiting


def test_a_ca_bundle_makes_the_private_ca_trusted(
    https: Sandbox, certificates: tuple[Path, Path, Path]
) -> None:
    ca = certificates[0]

    with ProformaClient(https.base_url, credentials=ADMIN, verify=str(ca)) as client:
        status = client.start_export(HR)

    assert status.id.startswith("responses-json-HR-3-")


def test_the_configured_ca_bundle_reaches_the_client(
    https: Sandbox, certificates: tuple[Path, Path, Path]
) -> None:
    jira = JiraSettings(base_url=https.base_url, ca_bundle=str(certificates[0]))

    with open_client(ApiTarget(jira, SandboxSettings(), ADMIN)) as client:
        status = client.start_export(HR)

    assert status.complete is False


def test_verification_is_on_unless_switched_off(https: Sandbox) -> None:
    verified = JiraSettings(base_url=https.base_url)
    unverified = JiraSettings(base_url=https.base_url, verify_tls=False)

    with (
        open_client(ApiTarget(verified, SandboxSettings(), ADMIN)) as client,
        pytest.raises(ApiConnectionError, match="CERTIFICATE_VERIFY_FAILED"),
    ):
        client.export_status("responses-json-HR-3-1")
    with open_client(ApiTarget(unverified, SandboxSettings(), ADMIN)) as client:
        assert client.start_export(HR).id.startswith("responses-json-HR-3-")


def test_a_missing_ca_bundle_is_a_configuration_error_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-ca.pem"

    with pytest.raises(ConfigError, match=f"CA bundle '{missing}', which is not a file"):
        ProformaClient("https://jira.example.com/jira", verify=str(missing))
