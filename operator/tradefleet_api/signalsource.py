# Generated from crds/tradefleet.io_signalsources.yaml by `python -m tradefleet_devtools.api_models`: do not edit.
# The CRD is the API's one definition; change it there and regenerate.

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Literal

from pydantic import Field

from tradefleet_api.base import ApiModel


class SignalSourceResourcesRequests(ApiModel):
    cpu: int | str | None = None
    memory: int | str | None = None


class SignalSourceResourcesLimits(ApiModel):
    cpu: int | str | None = None
    memory: int | str | None = None


class SignalSourceResources(ApiModel):
    requests: Annotated[
        SignalSourceResourcesRequests | None, Field(title="SignalSourceResourcesRequests")
    ] = None
    limits: Annotated[
        SignalSourceResourcesLimits | None, Field(title="SignalSourceResourcesLimits")
    ] = None


class SignalSourceSentimentFeed(ApiModel):
    url: Annotated[str, Field(max_length=2048, pattern="^https?://\\S+$")]
    credibility: Annotated[float, Field(ge=0.0, le=1.0)] = 1


class SignalSourceSentimentKeywords(ApiModel):
    bullish: Annotated[Sequence[str] | None, Field(max_length=256)] = None
    bearish: Annotated[Sequence[str] | None, Field(max_length=256)] = None


class SignalSourceSentimentLlmApiKeySecretRef(ApiModel):
    name: Annotated[
        str,
        Field(
            max_length=253,
            min_length=1,
            pattern="^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$",
        ),
    ]
    key: Annotated[str, Field(max_length=253, min_length=1)] = "apiKey"


class SignalSourceSentimentLlm(ApiModel):
    enabled: bool = False
    endpoint: Annotated[str | None, Field(max_length=2048, pattern="^https?://\\S+$")] = None
    model: Annotated[str | None, Field(max_length=256)] = None
    api_key_secret_ref: Annotated[
        SignalSourceSentimentLlmApiKeySecretRef | None,
        Field(alias="apiKeySecretRef", title="SignalSourceSentimentLlmApiKeySecretRef"),
    ] = None
    api_key: Annotated[str | None, Field(alias="apiKey", max_length=0)] = None


class SignalSourceSentiment(ApiModel):
    feeds: Annotated[Sequence[SignalSourceSentimentFeed], Field(max_length=32, min_length=1)]
    keywords: Annotated[
        SignalSourceSentimentKeywords | None, Field(title="SignalSourceSentimentKeywords")
    ] = None
    llm: Annotated[
        SignalSourceSentimentLlm, Field(title="SignalSourceSentimentLlm", validate_default=True)
    ] = Field(default_factory=SignalSourceSentimentLlm)


class SignalSourceMacroAssetBiase(ApiModel):
    asset: Annotated[str, Field(max_length=20, pattern="^[A-Z0-9]{1,20}$")]
    bias: Annotated[float, Field(ge=-1.0, le=1.0)]


class SignalSourceMacro(ApiModel):
    events_config_map: Annotated[
        str | None,
        Field(
            alias="eventsConfigMap",
            max_length=253,
            pattern="^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$",
        ),
    ] = None
    feeds: Annotated[Sequence[str] | None, Field(max_length=32)] = None
    asset_biases: Annotated[
        Sequence[SignalSourceMacroAssetBiase] | None, Field(alias="assetBiases", max_length=64)
    ] = None


class SignalSourceWhaleHeadersSecretRef(ApiModel):
    name: Annotated[
        str,
        Field(
            max_length=253,
            min_length=1,
            pattern="^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$",
        ),
    ]


class SignalSourceWhaleExchangeAddresse(ApiModel):
    exchange: Annotated[str, Field(max_length=64, pattern="^[a-z0-9]([-a-z0-9._]*[a-z0-9])?$")]
    addresses: Annotated[Sequence[str], Field(max_length=1024, min_length=1)]


class SignalSourceWhaleThreshold(ApiModel):
    asset: Annotated[str, Field(max_length=20, pattern="^[A-Z0-9]{1,20}$")]
    min_usd: Annotated[float, Field(alias="minUsd", gt=0.0)]


class SignalSourceWhale(ApiModel):
    feed_url: Annotated[
        str | None, Field(alias="feedUrl", max_length=2048, pattern="^https?://\\S+$")
    ] = None
    redis_stream: Annotated[
        str | None, Field(alias="redisStream", max_length=256, pattern="^[A-Za-z0-9:_.-]+$")
    ] = None
    headers_secret_ref: Annotated[
        SignalSourceWhaleHeadersSecretRef | None,
        Field(alias="headersSecretRef", title="SignalSourceWhaleHeadersSecretRef"),
    ] = None
    exchange_addresses: Annotated[
        Sequence[SignalSourceWhaleExchangeAddresse] | None,
        Field(alias="exchangeAddresses", max_length=64),
    ] = None
    thresholds: Annotated[Sequence[SignalSourceWhaleThreshold] | None, Field(max_length=64)] = None


class SignalSourceHttpHeadersSecretRef(ApiModel):
    name: Annotated[
        str,
        Field(
            max_length=253,
            min_length=1,
            pattern="^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$",
        ),
    ]


class SignalSourceHttp(ApiModel):
    url: Annotated[str, Field(max_length=2048, pattern="^https?://\\S+$")]
    json_path: Annotated[
        str,
        Field(
            alias="jsonPath",
            max_length=512,
            pattern="^\\$(\\.[A-Za-z_][A-Za-z0-9_-]*|\\[[0-9]+\\])+$",
        ),
    ]
    fusion_input: Annotated[Literal["sentiment", "macro", "whale"], Field(alias="fusionInput")] = (
        "sentiment"
    )
    headers_secret_ref: Annotated[
        SignalSourceHttpHeadersSecretRef | None,
        Field(alias="headersSecretRef", title="SignalSourceHttpHeadersSecretRef"),
    ] = None
    timeout_seconds: Annotated[int, Field(alias="timeoutSeconds", ge=1, le=60)] = 10


class SignalSourceSpec(ApiModel):
    kind: Literal["sentiment", "macro", "whale", "http"]
    symbols: Annotated[Sequence[str], Field(max_length=64, min_length=1)]
    interval_seconds: Annotated[int, Field(alias="intervalSeconds", ge=1, le=86400)] = 60
    paused: bool = False
    image: Annotated[str | None, Field(max_length=512, min_length=1)] = None
    region: Annotated[
        str | None, Field(max_length=63, min_length=1, pattern="^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
    ] = None
    resources: Annotated[SignalSourceResources | None, Field(title="SignalSourceResources")] = None
    sentiment: Annotated[SignalSourceSentiment | None, Field(title="SignalSourceSentiment")] = None
    macro: Annotated[SignalSourceMacro | None, Field(title="SignalSourceMacro")] = None
    whale: Annotated[SignalSourceWhale | None, Field(title="SignalSourceWhale")] = None
    http: Annotated[SignalSourceHttp | None, Field(title="SignalSourceHttp")] = None
