"""Record tables from plain Python lists, for decoders that must walk messages record by record.

Protobuf and JSON envelopes (Loki, OTLP) cannot be decoded column-wise, so their decoders append each
record's values to one list per column and turn every list into an Arrow array once per request:
no pyarrow call per record. Fields that are not core columns arrive as one ready-made JSON object per
record in the PREBUILT_ATTRS column, which normalize merges into `attrs`.
"""

from __future__ import annotations

from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from logwarden.ingest.http.errors import RequestRefused
from logwarden.model.normalize import PREBUILT_ATTRS
from logwarden.model.schema import TS_TYPE

__all__ = ["PREBUILT_ATTRS", "RecordColumns", "check_line_lengths", "json_text"]


def json_text(value: object) -> str:
    """Compact JSON text of a Python value (non-finite floats become null)."""
    return orjson.dumps(value).decode()


def check_line_lengths(table: pa.Table | None, max_line_bytes: int) -> None:
    """413 when a message is longer than ingest.max_line_bytes (the limit the native endpoint applies)."""
    if table is None or "message" not in table.column_names:
        return
    longest = pc.max(pc.binary_length(table.column("message"))).as_py() or 0
    if longest > max_line_bytes:
        raise RequestRefused(
            413, f"a line of {longest} bytes exceeds the limit of {max_line_bytes} (ingest.max_line_bytes)"
        )


class RecordColumns:
    """One list per column; `ts_us` holds epoch microseconds (None: use the receive time).

    A list left empty is a column the decoder does not fill; every other list holds one value per record.
    """

    __slots__ = ("attrs", "host", "level", "message", "service", "span_id", "trace_id", "ts_us")

    def __init__(self) -> None:
        self.ts_us: list[int | None] = []
        self.message: list[str | None] = []
        self.service: list[str | None] = []
        self.host: list[str | None] = []
        self.level: list[str | None] = []
        self.trace_id: list[str | None] = []
        self.span_id: list[str | None] = []
        self.attrs: list[str | None] = []

    def __len__(self) -> int:
        return len(self.message)

    def arrays(self) -> dict[str, pa.Array]:
        """Arrow arrays of the columns that hold at least one value, by record field name."""
        named: dict[str, tuple[list[Any], pa.DataType]] = {
            "ts": (self.ts_us, TS_TYPE),
            "message": (self.message, pa.string()),
            "service": (self.service, pa.string()),
            "host": (self.host, pa.string()),
            "level": (self.level, pa.string()),
            "trace_id": (self.trace_id, pa.string()),
            "span_id": (self.span_id, pa.string()),
            PREBUILT_ATTRS: (self.attrs, pa.string()),
        }
        out: dict[str, pa.Array] = {}
        for name, (values, type_) in named.items():
            if not values:
                continue
            array = pa.array(values, type_)
            if array.null_count < len(array):
                out[name] = array
        return out

    def table(self, extra: dict[str, pa.Array] | None = None) -> pa.Table | None:
        """The record table (None when there are no records), with `extra` columns added or replaced."""
        if not len(self):
            return None
        columns = self.arrays()
        if extra:
            columns.update(extra)
        if not columns:
            # Every value was empty: keep the row count with an all-null message column.
            columns["message"] = pa.nulls(len(self), pa.string())
        return pa.table(columns)
