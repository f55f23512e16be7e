"""The operator's apiserver access, read by the official loader in a child process: a kubeconfig
means what it means to kubectl, a broken one is refused with the loader's reason, and the
operator's own process never loads the ``kubernetes`` package."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import ssl
import subprocess
import sys
from pathlib import Path
from typing import Any

import kopf
import pytest
import yaml
from aiohttp import web
from tradefleet_operator.access import Access, AccessError, read_access
from tradefleet_operator.handlers import login
from tradefleet_operator.kube import KubeClient
from tradefleet_operator.passes import OperatorState
from tradefleet_operator.reconcile import Reconciler
from tradefleet_operator.settings import OperatorSettings


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate and its key (PEM files)."""
    where = tmp_path_factory.mktemp("pki")
    cert, key = where / "cert.pem", where / "key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-subj", "/CN=tradefleet-test", "-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def _kubeconfig(path: Path, *, cluster: dict[str, Any], user: dict[str, Any]) -> Path:
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [
                    {"name": "c", "cluster": {"server": "https://10.1.2.3:6443", **cluster}}
                ],
                "users": [{"name": "u", "user": user}],
                "contexts": [
                    {"name": "x", "context": {"cluster": "c", "user": "u", "namespace": "bots"}}
                ],
                "current-context": "x",
            }
        )
    )
    return path


def test_a_kubeconfig_with_inline_data_and_a_token(
    tmp_path: Path, certificate: tuple[Path, Path]
) -> None:
    ca = certificate[0].read_text()
    config = _kubeconfig(
        tmp_path / "config",
        cluster={"certificate-authority-data": base64.b64encode(ca.encode()).decode()},
        user={"token": "s3cret"},
    )
    access = read_access(kubeconfig=config)
    assert (access.server, access.authorization, access.namespace) == (
        "https://10.1.2.3:6443",
        "Bearer s3cret",
        "bots",
    )
    assert access.ca_pem is not None and access.ca_pem.strip() == ca.strip()
    assert access.current_authorization() == "Bearer s3cret"
    assert "s3cret" not in repr(access), "a token in a log line or traceback"
    context = access.ssl_context()
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert [c["subject"] for c in context.get_ca_certs()] == [
        ((("commonName", "tradefleet-test"),),)
    ]


def test_a_client_certificate_from_files_is_loaded_into_tls(
    tmp_path: Path, certificate: tuple[Path, Path]
) -> None:
    cert, key = certificate
    config = _kubeconfig(
        tmp_path / "config",
        cluster={"certificate-authority": str(cert)},
        user={"client-certificate": str(cert), "client-key": str(key)},
    )
    access = read_access(kubeconfig=config)
    assert access.authorization is None
    assert access.cert_pem == cert.read_text() and access.key_pem == key.read_text()
    assert isinstance(access.ssl_context(), ssl.SSLContext)  # the chain loaded, else it raises


def test_insecure_skip_tls_verify_means_no_verification(tmp_path: Path) -> None:
    config = _kubeconfig(
        tmp_path / "config", cluster={"insecure-skip-tls-verify": True}, user={"token": "t"}
    )
    assert read_access(kubeconfig=config).ssl_context() is False


def test_a_user_name_and_password_are_sent_as_basic_authentication(tmp_path: Path) -> None:
    config = _kubeconfig(
        tmp_path / "config",
        cluster={"insecure-skip-tls-verify": True},
        user={"username": "ops", "password": "pw"},
    )
    expected = "Basic " + base64.b64encode(b"ops:pw").decode()
    assert read_access(kubeconfig=config).current_authorization() == expected


def test_a_broken_kubeconfig_is_refused_with_the_loaders_reason(tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "Config", "contexts": []}))
    with pytest.raises(AccessError, match=r"no access to the apiserver: .*context"):
        read_access(kubeconfig=config)
    with pytest.raises(AccessError, match="no access to the apiserver"):
        read_access(kubeconfig=tmp_path / "missing")
    config.write_text("apiVersion: v1\nclusters: [\n  - {name: c\n")
    with pytest.raises(AccessError, match=r"^no access to the apiserver: while parsing"):
        read_access(kubeconfig=config)


def test_a_failing_exec_plugin_is_refused_not_started_without_credentials(tmp_path: Path) -> None:
    plugin = tmp_path / "get_token.py"
    plugin.write_text("import sys\nsys.exit('token expired; run: cloud login')\n")
    config = _kubeconfig(
        tmp_path / "config",
        cluster={"insecure-skip-tls-verify": True},
        user={
            "exec": {
                "apiVersion": "client.authentication.k8s.io/v1beta1",
                "command": sys.executable,
                "args": [str(plugin)],
            }
        },
    )
    with pytest.raises(AccessError, match=r"^no access to the apiserver: .*token expired"):
        read_access(kubeconfig=config)


def test_an_auth_provider_the_loader_cannot_use_is_refused(tmp_path: Path) -> None:
    config = _kubeconfig(
        tmp_path / "config",
        cluster={"insecure-skip-tls-verify": True},
        user={"auth-provider": {"name": "azure", "config": {}}},
    )
    with pytest.raises(AccessError, match="its auth-provider gave no credentials"):
        read_access(kubeconfig=config)


def test_the_operator_process_never_loads_the_kubernetes_package() -> None:
    """Through the entry point itself: ``main()`` keeps the package out, then runs the command
    line (asked for its help here, which imports Kopf and the handlers and exits)."""
    probe = (
        "import sys\n"
        "from tradefleet_operator.__main__ import main\n"
        "sys.argv = ['tradefleet-operator', '--help']\n"
        "try:\n"
        "    main()\n"
        "except SystemExit:\n"
        "    pass\n"
        "assert 'kopf' in sys.modules and 'tradefleet_operator.handlers' in sys.modules\n"
        "print(sorted(m for m, v in sys.modules.items() if m.startswith('kubernetes') and v))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip().splitlines()[-1] == "[]"


async def test_kopf_logging_in_again_reads_a_new_token_for_its_watches_and_our_writes(
    tmp_path: Path,
) -> None:
    config = _kubeconfig(
        tmp_path / "config", cluster={"insecure-skip-tls-verify": True}, user={"token": "first"}
    )
    settings = OperatorSettings(region="ap-northeast-1").with_overrides(
        kubeconfig=config, namespaces=None
    )
    state = OperatorState(settings=settings, access=read_access(kubeconfig=config))
    kube = KubeClient(access=state.access)
    state.reconciler = Reconciler(kube=kube, settings=settings)
    memo = kopf.Memo(tradefleet=state)
    sessions = [await login(memo=memo)]
    _kubeconfig(
        config, cluster={"insecure-skip-tls-verify": True}, user={"token": "second"}
    )  # an exec plugin's token renewed, as it were
    sessions.append(await login(memo=memo))
    try:
        tokens = [s.aiohttp_session.headers["Authorization"] for s in sessions]
        assert tokens == ["Bearer first", "Bearer second"]
        assert kube._headers() == {"Authorization": "Bearer second"}  # the operator's writes
    finally:
        for session in sessions:
            await session.aiohttp_session.close()
        await state.reconciler.runtime.close()


async def test_new_connection_settings_on_a_later_login_fail_no_request_under_way() -> None:
    """A new CA or client certificate needs new connections: the old pool is closed only when
    the requests using it, those still waiting for its one connection included, are done. Only
    a new token keeps the pool."""
    seen: list[str] = []

    async def slow(request: web.Request) -> web.Response:
        seen.append(request.headers.get("Authorization", ""))
        await asyncio.sleep(0.2)
        return web.json_response({"kind": "ConfigMap", "metadata": {"name": "x"}})

    app = web.Application()
    app.router.add_get("/api/v1/namespaces/bots/configmaps/{name}", slow)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    first = Access(
        server=f"http://127.0.0.1:{port}",
        verify=False,
        ca_pem=None,
        cert_pem=None,
        key_pem=None,
        authorization="Bearer one",
        namespace=None,
        token_file=None,
    )
    kube = KubeClient(access=first, max_connections=1)
    try:
        gets = [
            asyncio.ensure_future(kube.get(kind="ConfigMap", namespace="bots", name=f"c{i}"))
            for i in range(3)
        ]
        await asyncio.sleep(0.05)  # one request on the connection, two waiting for it
        await kube.use(access=dataclasses.replace(first, authorization="Bearer two"))
        await kube.use(access=dataclasses.replace(first, authorization="Bearer two", ca_pem="CA"))
        answers = await asyncio.gather(*gets)
        assert [a and a["kind"] for a in answers] == ["ConfigMap"] * 3
        await kube.get(kind="ConfigMap", namespace="bots", name="after")
        assert seen[-1] == "Bearer two"
    finally:
        await kube.close()
        await runner.cleanup()
