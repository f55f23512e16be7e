# syntax=docker/dockerfile:1
# Tradefleet images, one per target:
#   docker build --target operator -t ghcr.io/tradefleet/operator:0.1.0 .
#   docker build --target runtime  -t ghcr.io/tradefleet/bot-runtime:0.1.0 .
#   docker build --target research -t ghcr.io/tradefleet/research:0.1.0 .
# operator installs `.[operator]`, runtime `.[runtime]` (bot and signal source pods), research
# `.[runtime,research]` (optuna, numba, tqdm, matplotlib: the optimizer Jobs the operator starts,
# `optimizer.image` in the chart). Each is a virtualenv built in a build stage and copied alone into
# an image that runs as uid 10001 and writes nothing outside /tmp (the chart's pods mount a
# read-only root and an emptyDir at /tmp). The dev/test tooling (devtools/) is in none of them.
#
# PYTHON_IMAGE is the base: any Debian bookworm image with Python 3.11 as `python` (and `venv`,
# `groupadd`, `useradd`). Docker uses the official python image; machines without Docker build with
# buildah against a base made by debootstrap (scripts/build-images.sh, offline apart from Debian's
# and PyPI's package servers).
# The dependencies are installed before the sources are copied and the final images take the
# dependencies' virtualenv and the project's packages in two layers, so a code change rebuilds and
# ships only the project's layer; pip's cache is a build cache mount (Docker BuildKit and buildah),
# never in an image.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm
# Where the project's own packages go in the virtualenv; the images are Python 3.11.
ARG SITE=/opt/tradefleet/lib/python3.11/site-packages

FROM ${PYTHON_IMAGE} AS deps
WORKDIR /src
COPY pyproject.toml ./
COPY scripts/requirements.py scripts/

FROM deps AS source
COPY README.md ./
COPY operator/ operator/
COPY bot-runtime/ bot-runtime/
# pyproject.toml lists devtools/ as a package root; an empty one keeps dev tooling out.
RUN mkdir devtools

FROM deps AS operator-deps
RUN --mount=type=cache,target=/root/.cache/pip \
    python -m venv /opt/tradefleet \
 && python scripts/requirements.py operator > /tmp/requirements.txt \
 && /opt/tradefleet/bin/pip install --disable-pip-version-check -r /tmp/requirements.txt

FROM deps AS runtime-deps
RUN --mount=type=cache,target=/root/.cache/pip \
    python -m venv /opt/tradefleet \
 && python scripts/requirements.py runtime > /tmp/requirements.txt \
 && /opt/tradefleet/bin/pip install --disable-pip-version-check -r /tmp/requirements.txt

FROM runtime-deps AS research-deps
RUN --mount=type=cache,target=/root/.cache/pip \
    python scripts/requirements.py runtime research > /tmp/requirements.txt \
 && /opt/tradefleet/bin/pip install --disable-pip-version-check -r /tmp/requirements.txt

FROM operator-deps AS operator-build
ARG SITE
COPY --from=source /src /src
RUN --mount=type=cache,target=/root/.cache/pip \
    /opt/tradefleet/bin/pip install --disable-pip-version-check --no-deps --no-compile \
      --target /opt/project . \
 && rm -rf /opt/project/bin \
 && /opt/tradefleet/bin/python -m compileall -q -d "$SITE" /opt/project

FROM runtime-deps AS runtime-build
ARG SITE
COPY --from=source /src /src
RUN --mount=type=cache,target=/root/.cache/pip \
    /opt/tradefleet/bin/pip install --disable-pip-version-check --no-deps --no-compile \
      --target /opt/project . \
 && rm -rf /opt/project/bin \
 && /opt/tradefleet/bin/python -m compileall -q -d "$SITE" /opt/project

FROM research-deps AS research-build
ARG SITE
COPY --from=source /src /src
RUN --mount=type=cache,target=/root/.cache/pip \
    /opt/tradefleet/bin/pip install --disable-pip-version-check --no-deps --no-compile \
      --target /opt/project . \
 && rm -rf /opt/project/bin \
 && /opt/tradefleet/bin/python -m compileall -q -d "$SITE" /opt/project

FROM ${PYTHON_IMAGE} AS base
RUN groupadd --system --gid 10001 tradefleet \
 && useradd --system --uid 10001 --gid 10001 --home-dir /tmp --no-create-home \
      --shell /usr/sbin/nologin tradefleet
# Bytecode is compiled at build time; a read-only root filesystem gets no .pyc writes.
ENV PATH=/opt/tradefleet/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp
LABEL org.opencontainers.image.source="https://github.com/tradefleet/tradefleet" \
      org.opencontainers.image.licenses="Apache-2.0"

FROM base AS operator
ARG SITE
COPY --from=operator-deps /opt/tradefleet /opt/tradefleet
COPY --from=operator-build /opt/project ${SITE}
USER 10001:10001
EXPOSE 9090 8081
ENTRYPOINT ["python", "-m", "tradefleet_operator"]

FROM base AS runtime
ARG SITE
COPY --from=runtime-deps /opt/tradefleet /opt/tradefleet
COPY --from=runtime-build /opt/project ${SITE}
USER 10001:10001
EXPOSE 8080
ENTRYPOINT ["python", "-m", "tradefleet_runtime"]

# The optimizer Job's image: the runtime plus the research extra (`python -m tradefleet_runtime
# optimize` imports optuna, numba and tqdm). Numba's and matplotlib's caches go under HOME=/tmp.
FROM base AS research
ARG SITE
COPY --from=research-deps /opt/tradefleet /opt/tradefleet
COPY --from=research-build /opt/project ${SITE}
USER 10001:10001
ENTRYPOINT ["python", "-m", "tradefleet_runtime"]
