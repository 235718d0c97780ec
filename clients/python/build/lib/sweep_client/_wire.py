"""Protocol v1 framing (docs/protocol.md): three frames, version byte, type name, JSON body."""

from __future__ import annotations

import json
import math
import os
from typing import Any, Dict, List, Mapping, Optional, Tuple

PROTOCOL_VERSION = 1
VERSION_FRAME = bytes([PROTOCOL_VERSION])
MAX_BODY_BYTES = 16 * 1024 * 1024

# What a coordinator sends; anything else is ignored with a warning.
COORDINATOR_TYPES = frozenset(
    ["welcome", "assign", "ack", "chunk", "wait", "cancel", "shutdown", "error", "heartbeat"]
)


class ProtocolError(Exception):
    """A message that is not protocol v1 as docs/protocol.md defines it."""


def encode(message_type: str, body: Mapping[str, Any]) -> List[bytes]:
    """The three frames of one message. NaN and infinities cannot be sent (JSON has none)."""
    text = json.dumps(body, separators=(",", ":"), allow_nan=False, ensure_ascii=False)
    return [VERSION_FRAME, message_type.encode("ascii"), text.encode("utf-8")]


def decode(frames: List[bytes]) -> Tuple[str, Dict[str, Any]]:
    """The type and body of a message from the coordinator; ProtocolError names the defect."""
    if len(frames) != 3:
        raise ProtocolError(f"expected 3 frames, got {len(frames)}")
    version, type_frame, body = frames
    if version != VERSION_FRAME:
        raise ProtocolError(f"unknown protocol version {version!r} (this client speaks {PROTOCOL_VERSION})")
    if len(body) > MAX_BODY_BYTES:
        raise ProtocolError(f"body of {len(body)} bytes is above the {MAX_BODY_BYTES} limit")
    try:
        message_type = type_frame.decode("ascii")
    except UnicodeDecodeError:
        raise ProtocolError(f"type frame {type_frame[:16]!r} is not ASCII") from None
    if message_type not in COORDINATOR_TYPES:
        raise ProtocolError(f"unknown message type {message_type!r}")
    try:
        parsed = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as error:
        raise ProtocolError(f"{message_type} body is not JSON: {error}") from None
    if not isinstance(parsed, dict):
        raise ProtocolError(f"{message_type} body is not a JSON object")
    return message_type, parsed


def finite_number(key: str, value: Any, where: str) -> float:
    """`value` as a float; TypeError names the key when it is not a number (booleans are not),
    ValueError when it is NaN or infinite."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{where}: {key} = {value!r} is not a number")
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"{where}: {key} = {number} is not a finite number")
    return number


def load_key(value: str, what: str) -> bytes:
    """A CURVE key (40 Z85 characters) given as itself or as the path of a file holding it, as
    `sweep keys generate` writes them (NAME.pub, NAME.key)."""
    text = value
    if len(value.strip()) != 40 or os.path.exists(value):
        try:
            with open(value, encoding="ascii") as handle:
                text = handle.read()
        except OSError as error:
            raise ValueError(f"{what} {value}: cannot read it ({error.strerror})") from None
        except UnicodeDecodeError:
            raise ValueError(f"{what} {value} is not a CURVE key file (40 Z85 characters)") from None
    key = text.strip()
    z85 = set("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#")
    if len(key) != 40 or not set(key) <= z85:
        raise ValueError(f"{what} {value} is not a CURVE key (40 Z85 characters, from `sweep keys generate`)")
    return key.encode("ascii")


def lease_text(lease: Mapping[str, Any]) -> str:
    """A lease reference as a log line shows it."""
    return f"{lease.get('trial', '?')} attempt {lease.get('attempt', '?')}"


def optional_int(body: Mapping[str, Any], key: str) -> Optional[int]:
    value = body.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else None
