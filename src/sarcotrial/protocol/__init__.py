"""Protocols as data: the schema (:mod:`.schema`) and the loader (:mod:`.loader`)."""

from sarcotrial.protocol.loader import (
    LoadedProtocol,
    ProtocolError,
    load_protocol,
    parse_protocol,
    read_protocol,
    shipped_protocols,
)
from sarcotrial.protocol.schema import ASSUMED, Protocol, resolve_parameter

__all__ = [
    "ASSUMED",
    "LoadedProtocol",
    "Protocol",
    "ProtocolError",
    "load_protocol",
    "parse_protocol",
    "read_protocol",
    "resolve_parameter",
    "shipped_protocols",
]
