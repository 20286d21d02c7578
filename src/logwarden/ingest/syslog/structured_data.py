"""RFC 5424 STRUCTURED-DATA → flat attrs: `[id k="v" ...]` becomes `sd.<id>.<k>`.

Called once per message that carries structured data (the vectorized parser has already checked the
syntax), so it only has to take elements apart and undo the escapes `\\"`, `\\\\` and `\\]`.
"""

from __future__ import annotations

import re

_NAME = r'[^\s\]="]+'
_VALUE = r'(?:[^"\\]|\\.)*'
# RE2 syntax too: the vectorized parser embeds the same pattern.
SD_ELEMENTS_PATTERN = rf'(?:\[{_NAME}(?: {_NAME}="{_VALUE}")*\])+'
_ELEMENT = re.compile(rf'\[({_NAME})((?: {_NAME}="{_VALUE}")*)\]', re.DOTALL)
_PARAM = re.compile(rf' ({_NAME})="({_VALUE})"', re.DOTALL)
# RFC 5424 6.3.3: only these three are escaped; a backslash before anything else is a plain backslash.
_ESCAPE = re.compile(r'\\(["\\\]])')


def parse_structured_data(sd: str) -> dict[str, str | list[str]]:
    """Attrs of one STRUCTURED-DATA field; a parameter repeated within an element gives a list."""
    attrs: dict[str, str | list[str]] = {}
    for element in _ELEMENT.finditer(sd):
        sd_id = element.group(1)
        for param in _PARAM.finditer(element.group(2)):
            key = f"sd.{sd_id}.{param.group(1)}"
            value = param.group(2)
            if "\\" in value:
                value = _ESCAPE.sub(r"\1", value)
            previous = attrs.get(key)
            if previous is None:
                attrs[key] = value
            elif isinstance(previous, list):
                previous.append(value)
            else:
                attrs[key] = [previous, value]
    return attrs
