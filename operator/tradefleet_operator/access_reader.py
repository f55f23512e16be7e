"""``python -m tradefleet_operator.access_reader [--kubeconfig PATH]``: print the apiserver
access that the official ``kubernetes`` package reads from a kubeconfig, or from the pod's
service account without one, as one JSON document on stdout.

Run as a child process by :func:`tradefleet_operator.access.read_access`, so that the operator
itself never imports that package (see :mod:`tradefleet_operator.__main__`), while a kubeconfig
still means exactly what it means to ``kubectl``: contexts, files or inline data, ``exec``
plugins and auth providers, ``KUBECONFIG`` lists. Exits with 2 and the loader's reason on
stderr when there is no usable access.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from kubernetes import client, config


def _text(path: str | None) -> str | None:
    return Path(path).read_text() if path else None


def _token(cfg: client.Configuration) -> str | None:
    # Before kubernetes 36.0.1 the loader stores "Bearer <token>" as "authorization", after it
    # the bare token as "BearerToken".
    auth = cfg.api_key.get("authorization") or cfg.api_key.get("BearerToken")
    if not auth:
        return None
    scheme, _, token = str(auth).strip().partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token else str(auth).strip()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tradefleet_operator.access_reader")
    parser.add_argument("--kubeconfig", type=Path, default=None)
    args = parser.parse_args(argv)
    cfg = client.Configuration()
    namespace: str | None = None
    try:
        if args.kubeconfig is None:
            config.load_incluster_config(client_configuration=cfg)  # type: ignore[no-untyped-call]
            namespace = _text(
                "/var/run/secrets/kubernetes.io/serviceaccount/namespace"
            )  # always mounted with the token
        else:
            config.load_kube_config(config_file=str(args.kubeconfig), client_configuration=cfg)  # type: ignore[no-untyped-call]
            _contexts, current = config.list_kube_config_contexts(config_file=str(args.kubeconfig))  # type: ignore[no-untyped-call]
            namespace = (current.get("context") or {}).get("namespace")
        document = {
            "server": cfg.host,
            "verify": bool(cfg.verify_ssl),
            "caPem": _text(cfg.ssl_ca_cert),
            "certPem": _text(cfg.cert_file),
            "keyPem": _text(cfg.key_file),
            "token": _token(cfg),
            "namespace": namespace.strip() if namespace else None,
        }
    except (config.ConfigException, OSError, ValueError, KeyError) as exc:
        print(f"no access to the apiserver: {exc}", file=sys.stderr)
        return 2
    json.dump(document, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
