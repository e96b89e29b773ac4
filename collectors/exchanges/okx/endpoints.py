"""Where OKX is: live endpoints, the bundled simulator, or an explicit base URL.

Switching between the live exchange and the simulator is the one setting
``endpoint`` (config) / ``MARKET_DATA_ENDPOINT`` (environment).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from collectors.core.errors import ConfigurationError
from collectors.core.factory import check_endpoint

LIVE_WS_BASE = "wss://ws.okx.com:8443"
# OKX's 2026 docs name openapi.okx.com; www.okx.com still serves the same API and is what
# most deployments have allow-listed, so it stays the default. OKX_REST_URL overrides it.
LIVE_REST_BASE = "https://www.okx.com"
SIMULATOR_DEFAULT_PORT = 18443


@dataclass(frozen=True, slots=True)
class OKXEndpoints:
    public_url: str
    business_url: str
    rest_url: str
    simulated: bool


def resolve_endpoints(endpoint: str) -> OKXEndpoints:
    """``live`` | ``simulator`` | ``ws://host:port`` (``http://`` accepted) -> the three URLs."""
    check_endpoint(endpoint)
    if endpoint == "live":
        return OKXEndpoints(
            public_url=f"{LIVE_WS_BASE}/ws/v5/public",
            business_url=f"{LIVE_WS_BASE}/ws/v5/business",
            rest_url=os.environ.get("OKX_REST_URL", LIVE_REST_BASE),
            simulated=False,
        )
    if endpoint == "simulator":
        host = os.environ.get("SIMULATOR_HOST", "127.0.0.1")
        raw_port = os.environ.get("OKX_SIMULATOR_PORT", str(SIMULATOR_DEFAULT_PORT))
        if not raw_port.isdigit() or not 0 < int(raw_port) < 65536:
            raise ConfigurationError(f"OKX_SIMULATOR_PORT must be a TCP port number, got {raw_port!r}")
        endpoint = f"ws://{host}:{raw_port}"
    base = endpoint.rstrip("/")
    scheme, _, rest = base.partition("://")
    ws_scheme = {"http": "ws", "https": "wss"}.get(scheme, scheme)
    http_scheme = {"ws": "http", "wss": "https"}.get(scheme, scheme)
    return OKXEndpoints(
        public_url=f"{ws_scheme}://{rest}/ws/v5/public",
        business_url=f"{ws_scheme}://{rest}/ws/v5/business",
        rest_url=f"{http_scheme}://{rest}",
        simulated=True,
    )
