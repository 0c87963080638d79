"""The gateway's configuration: frozen models of the YAML file, its loader, and a redacted view."""

from gateway.config.loader import ConfigError, format_path, load_config, parse_config
from gateway.config.models import (
    BillingConfig,
    Channel,
    DatabaseConfig,
    GatewayConfig,
    GroupConfig,
    Price,
    RoutingConfig,
    ServerConfig,
    Timeouts,
    Token,
)
from gateway.config.redact import REDACTED, redacted

__all__ = [
    "REDACTED",
    "BillingConfig",
    "Channel",
    "ConfigError",
    "DatabaseConfig",
    "GatewayConfig",
    "GroupConfig",
    "Price",
    "RoutingConfig",
    "ServerConfig",
    "Timeouts",
    "Token",
    "format_path",
    "load_config",
    "parse_config",
    "redacted",
]
