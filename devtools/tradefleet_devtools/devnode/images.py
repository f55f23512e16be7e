"""Image references as a kubelet sees them, for a node that pulls nothing — dev/test tooling.

Used by the pod worker (:mod:`tradefleet_devtools.devnode.pods`) before it starts a container. The
dev node agent runs commands from the host, not images, but an image a kubelet could never pull
must not run here either: a reference that does not parse waits with ``InvalidImageName``, and one
whose registry is under ``.invalid`` (RFC 2606: it never resolves, anywhere) waits with
``ErrImagePull``, then ``ImagePullBackOff``, as the kubelet reports them. Any other reference is
taken as pulled.
"""

from __future__ import annotations

import re

from tradefleet_devtools.devnode.errors import PodConfigError

INVALID_IMAGE_NAME = "InvalidImageName"
ERR_IMAGE_PULL = "ErrImagePull"
IMAGE_PULL_BACK_OFF = "ImagePullBackOff"

# The grammar of github.com/distribution/reference (domain, path components, tag, digest).
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_DOMAIN_PART = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"(?:{_DOMAIN_PART}(?:\.{_DOMAIN_PART})*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9A-Fa-f]{32,}"
_REFERENCE = re.compile(
    rf"^(?:(?P<domain>{_DOMAIN})/)?{_COMPONENT}(?:/{_COMPONENT})*(?::{_TAG})?(?:@{_DIGEST})?$"
)


def registry_of(image: str) -> str | None:
    """The registry host of a parsed reference (its first part, when it looks like a host)."""
    first, slash, _ = image.partition("/")
    if not slash:
        return None
    if "." in first or ":" in first or first == "localhost":
        return first.split(":", 1)[0]
    return None


def image_problem(*, image: str, failed_pulls: int) -> PodConfigError | None:
    """Why ``image`` cannot be run now, as the kubelet would say it; None when it can.

    ``failed_pulls`` counts this container's pulls that failed before: the first failure is
    ``ErrImagePull``, the ones after it ``ImagePullBackOff``.
    """
    if not _REFERENCE.match(image) or len(image) > 255:
        return PodConfigError(
            reason=INVALID_IMAGE_NAME,
            message=f'Failed to apply default image tag "{image}": couldn\'t parse image reference'
            f' "{image}": invalid reference format',
        )
    registry = registry_of(image)
    if registry is None or not registry.lower().endswith(".invalid"):
        return None
    if failed_pulls > 0:
        return PodConfigError(
            reason=IMAGE_PULL_BACK_OFF, message=f'Back-off pulling image "{image}"'
        )
    return PodConfigError(
        reason=ERR_IMAGE_PULL,
        message=f'failed to pull and unpack image "{image}": failed to resolve reference'
        f' "{image}": dial tcp: lookup {registry}: no such host',
    )
