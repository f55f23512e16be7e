"""``python -m tradefleet_operator.access_reader [--kubeconfig PATH]``: print the apiserver
access that the official ``kubernetes`` package reads from a kubeconfig, or from the pod's
service account without one, as one JSON document on stdout.

Run as a child process by :func:`tradefleet_operator.access.read_access`, so that the operator
itself never imports that package (see :mod:`tradefleet_operator.__main__`), while a kubeconfig
is read by the official loader: contexts, files or inline data, tokens, user names and
passwords, client certificates, ``exec`` plugins and auth providers, ``KUBECONFIG`` lists. (A
cluster's ``tls-server-name`` and ``proxy-url`` are not carried over.) Exits with 2 and the
reason on stderr when the loader fails, or when the user signs in through an ``exec`` plugin or
an ``auth-provider`` that gave no credentials (the loader logs that, or not even that, and goes
on without); what the loader warns of and carries on from goes to stderr too.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

from kubernetes import client, config


def _text(path: str | None) -> str | None:
    return Path(path).read_text() if path else None


def _authorization(cfg: client.Configuration) -> str | None:
    """The Authorization header the loader made: ``Bearer <token>`` (a token, a token file, an
    exec plugin or an auth provider) or ``Basic <credentials>`` (a user name and password)."""
    auth = cfg.api_key.get("BearerToken")
    return str(auth).strip() if auth else None


class _LoaderErrors(logging.Handler):
    """What the loader reports and carries on from (a failing ``exec`` plugin, for one)."""

    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if f"{os.sep}kubernetes{os.sep}" in record.pathname:  # the loader's, nobody else's
            self.messages.append(" ".join(record.getMessage().split()))


def _signs_in_by(kubeconfig: Path) -> str | None:
    """The way the current context's user signs in that may yield nothing (``exec``,
    ``auth-provider``): the loader then goes on without credentials, at most logging why."""
    _contexts, current = config.list_kube_config_contexts(config_file=str(kubeconfig))  # type: ignore[no-untyped-call]
    name = (current.get("context") or {}).get("user")
    # The loader's own reading of the files (KUBECONFIG lists merged); its nodes have no get().
    merged = config.kube_config.KubeConfigMerger(str(kubeconfig)).config  # type: ignore[no-untyped-call]
    for entry in merged["users"] if "users" in merged else []:  # noqa: SIM401
        if entry["name"] == name:
            user = entry["user"] if "user" in entry else {}  # noqa: SIM401
            return next((way for way in ("exec", "auth-provider") if way in user), None)
    return None


def _read(*, kubeconfig: Path | None) -> dict[str, object]:
    cfg = client.Configuration()
    if kubeconfig is None:
        config.load_incluster_config(client_configuration=cfg)  # type: ignore[no-untyped-call]
        # Mounted with the token unless the pod projects its own token volume.
        namespace_file = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
        namespace = namespace_file.read_text() if namespace_file.is_file() else None
    else:
        # Not written back (a refreshed token): the kubeconfig may be a read-only mount.
        config.load_kube_config(  # type: ignore[no-untyped-call]
            config_file=str(kubeconfig), client_configuration=cfg, persist_config=False
        )
        _contexts, current = config.list_kube_config_contexts(config_file=str(kubeconfig))  # type: ignore[no-untyped-call]
        namespace = (current.get("context") or {}).get("namespace")
    return {
        "server": cfg.host,
        "verify": bool(cfg.verify_ssl),
        "caPem": _text(cfg.ssl_ca_cert),
        "certPem": _text(cfg.cert_file),
        "keyPem": _text(cfg.key_file),
        "authorization": _authorization(cfg),
        "namespace": namespace.strip() if namespace else None,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tradefleet_operator.access_reader")
    parser.add_argument("--kubeconfig", type=Path, default=None)
    args = parser.parse_args(argv)
    errors = _LoaderErrors()
    logging.getLogger().addHandler(errors)
    try:
        document = _read(kubeconfig=args.kubeconfig)
    except Exception as exc:  # any failure of the loader comes from the user's config
        reason = " ".join(str(exc).split()) or type(exc).__name__
        print(f"no access to the apiserver: {reason}", file=sys.stderr)
        return 2
    if not (document["authorization"] or document["certPem"]) and args.kubeconfig is not None:
        # The loader logs a failed exec plugin (an auth provider it cannot use, not even that)
        # and goes on without credentials.
        way = _signs_in_by(args.kubeconfig)
        if way is not None:
            reason = errors.messages[-1] if errors.messages else f"its {way} gave no credentials"
            print(f"no access to the apiserver: {reason}", file=sys.stderr)
            return 2
    for message in errors.messages:
        print(message, file=sys.stderr)
    json.dump(document, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
