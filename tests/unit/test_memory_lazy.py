"""Libraries imported on first use (logwarden.lazy): what the server's start-up leaves out of its memory."""

from __future__ import annotations

import json
import subprocess
import sys
import types

from logwarden.lazy import LazyModule, lazy_module


def _fresh(code: str) -> dict[str, object]:
    """Run `code` in a new interpreter (nothing imported yet); it prints one JSON object."""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_an_imported_module_is_returned_as_it_is() -> None:
    assert lazy_module("json") is json


def test_a_lazy_module_imports_on_first_attribute_read() -> None:
    probe = _fresh(
        "import json, sys\n"
        "from logwarden.lazy import lazy_module\n"
        "m = lazy_module('colorsys')\n"
        "before = 'colorsys' in sys.modules\n"
        "value = m.rgb_to_hsv(1.0, 0.0, 0.0)\n"
        "print(json.dumps({'before': before, 'after': 'colorsys' in sys.modules, 'value': list(value),"
        " 'dir': 'hsv_to_rgb' in dir(m)}))"
    )
    assert probe == {"before": False, "after": True, "value": [0.0, 1.0, 1.0], "dir": True}


def test_a_lazy_module_is_a_module() -> None:
    m = LazyModule("logwarden.no_such_module_here")
    assert isinstance(m, types.ModuleType) and m.__name__ == "logwarden.no_such_module_here"


def test_the_server_app_does_not_import_polars_until_a_feature_uses_it() -> None:
    probe = _fresh(
        "import json, sys\n"
        "from logwarden.api.app import create_app\n"
        "started = 'polars' in sys.modules\n"
        "import pyarrow as pa\n"
        "from logwarden.model.attrs_json import json_values\n"
        "text = json_values(pa.array([[1, 2], None])).to_pylist()  # a nested value: polars encodes it\n"
        "print(json.dumps({'at_start': started, 'after_use': 'polars' in sys.modules, 'text': text}))"
    )
    assert probe == {"at_start": False, "after_use": True, "text": ["[1,2]", None]}
