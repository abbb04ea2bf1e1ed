"""Text that leaves condsim safely: credentials redacted, control characters made visible.

Every message condsim prints or stores may carry text it does not control: a file name (which may
hold an escape sequence, or bytes that are not UTF-8), an LLM server's answer, an environment
variable with a password in its URL. Two helpers make such text harmless, and every place that
prints or stores it uses them:

* `redact` replaces credentials with ``***``: the password of a ``scheme://user:password@host`` URL,
  a ``Bearer`` token, the values of the API-key variables (`API_KEY_VARIABLES`) and any secret the
  caller names (the LLM client passes its key, so a server body that echoes it is cleaned);
* `printable` makes a string safe for a terminal: control characters (ESC, CR, BEL, ...), bidi
  overrides and the surrogates that stand for undecodable file-name bytes are written as ``\\x1b``,
  ``\\u202e``, ``\\xff``, so a file name can neither rewrite the screen nor crash the output.

This module sits below every package (it imports nothing of ours).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping

#: environment variables whose values are API keys (read by `condsim.conditions.llm`)
API_KEY_VARIABLES = ("CONDSIM_LLM_API_KEY", "OPENAI_API_KEY")
MASK = "***"
#: secrets shorter than this are not searched for in text (they would mask ordinary words)
_MIN_SECRET_CHARS = 4

_URL_PASSWORD = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://[^/\s:@]*):([^/\s@]*)@")
_BEARER = re.compile(r"(?i)\b(bearer|basic)(\s+)[A-Za-z0-9\-._~+/=]{4,}")
_ASSIGNED = re.compile(
    r"(?i)\b(api[_-]?key|access[_-]?token|token|password|secret)([\"']?\s*[:=]\s*[\"']?)[^\s\"',;&]{4,}"
)
_API_KEY_SHAPE = re.compile(r"\bsk-[A-Za-z0-9_\-]{8,}")
#: bidirectional overrides and isolates: they reorder what a terminal shows (a ".png" that is a ".exe")
_BIDI = frozenset({0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A)})


def environment_secrets(environ: Mapping[str, str] | None = None) -> list[str]:
    """The values of the API-key variables that are set (`API_KEY_VARIABLES`)."""
    env = os.environ if environ is None else environ
    return [value for name in API_KEY_VARIABLES if (value := env.get(name, "").strip())]


def redact(text: str, secrets: Iterable[str] | None = None) -> str:
    """`text` with credentials replaced by ``***``.

    `secrets` are strings to mask wherever they appear (default: `environment_secrets()`); URL
    passwords, ``Bearer``/``Basic`` credentials, ``api_key=...``/``"token": ...`` assignments and
    ``sk-...`` keys are masked in any case.
    """
    known = environment_secrets() if secrets is None else list(secrets)
    for secret in sorted(set(known), key=len, reverse=True):
        if len(secret) >= _MIN_SECRET_CHARS:
            text = text.replace(secret, MASK)
    text = _URL_PASSWORD.sub(lambda match: f"{match.group(1)}:{MASK}@", text)
    text = _BEARER.sub(lambda match: f"{match.group(1)}{match.group(2)}{MASK}", text)
    text = _ASSIGNED.sub(lambda match: f"{match.group(1)}{match.group(2)}{MASK}", text)
    return _API_KEY_SHAPE.sub(f"sk-{MASK}", text)


def redact_url(url: str) -> str:
    """A URL with the password of its ``user:password@`` part (if any) replaced by ``***``."""
    return _URL_PASSWORD.sub(lambda match: f"{match.group(1)}:{MASK}@", url)


def _escape(character: str) -> str:
    code = ord(character)
    if 0xDC80 <= code <= 0xDCFF:  # os.fsdecode's surrogateescape stand-in for the byte code - 0xDC00
        return f"\\x{code - 0xDC00:02x}"
    if code <= 0xFF:
        return {"\n": "\\n", "\r": "\\r", "\t": "\\t"}.get(character, f"\\x{code:02x}")
    return f"\\u{code:04x}"


def _needs_escape(character: str) -> bool:
    code = ord(character)
    return code < 0x20 or 0x7F <= code < 0xA0 or 0xD800 <= code <= 0xDFFF or code in _BIDI


def printable(text: object) -> str:
    """`str(text)` safe for a terminal, one line: control characters, bidi overrides and lone
    surrogates (undecodable file-name bytes) become visible escapes; everything else is unchanged."""
    value = os.fspath(text) if isinstance(text, os.PathLike) else str(text)
    if isinstance(value, bytes):
        value = os.fsdecode(value)
    if not any(_needs_escape(character) for character in value):
        return value
    return "".join(_escape(character) if _needs_escape(character) else character for character in value)


def safe_message(text: object, secrets: Iterable[str] | None = None) -> str:
    """`printable(redact(text))`: what every error, warning and note goes through before it is shown."""
    return printable(redact(str(text), secrets))
