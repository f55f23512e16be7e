# syntax=docker/dockerfile:1
# Tradefleet images, one per target:
#   docker build --target operator -t ghcr.io/tradefleet/operator:0.1.0 .
#   docker build --target runtime  -t ghcr.io/tradefleet/bot-runtime:0.1.0 .
# Each installs the project with its extra (`pip install .[operator]` / `.[runtime]`) into a
# virtualenv in a build stage and copies only that into a slim image that runs as uid 10001 and
# writes nothing outside /tmp (the chart's pods mount a read-only root and an emptyDir at /tmp).
# The dev/test tooling (devtools/) is not in either image.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS source
WORKDIR /src
COPY pyproject.toml README.md ./
COPY operator/ operator/
COPY bot-runtime/ bot-runtime/
# pyproject.toml lists devtools/ as a package root; an empty one keeps dev tooling out.
RUN mkdir devtools

FROM source AS operator-build
RUN python -m venv /opt/tradefleet \
 && /opt/tradefleet/bin/pip install --no-cache-dir --disable-pip-version-check ".[operator]" \
 && /opt/tradefleet/bin/python -m compileall -q /opt/tradefleet

FROM source AS runtime-build
RUN python -m venv /opt/tradefleet \
 && /opt/tradefleet/bin/pip install --no-cache-dir --disable-pip-version-check ".[runtime]" \
 && /opt/tradefleet/bin/python -m compileall -q /opt/tradefleet

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
COPY --from=operator-build /opt/tradefleet /opt/tradefleet
USER 10001:10001
EXPOSE 9090 8081
ENTRYPOINT ["python", "-m", "tradefleet_operator"]

FROM base AS runtime
COPY --from=runtime-build /opt/tradefleet /opt/tradefleet
USER 10001:10001
EXPOSE 8080
ENTRYPOINT ["python", "-m", "tradefleet_runtime"]
