"""Prometheus remote-write's `WriteRequest` (prompb/remote.proto, types.proto): the four messages it needs,
described at import with protobuf's runtime in a pool of their own (no generated code to keep in step), and the
request body — the serialized message, snappy-compressed (block format) as the protocol wants.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import cramjam
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import Message

CONTENT_TYPE = "application/x-protobuf"
HEADERS = {
    "Content-Encoding": "snappy",
    "Content-Type": CONTENT_TYPE,
    "X-Prometheus-Remote-Write-Version": "0.1.0",
}
Sample = tuple[Sequence[tuple[str, str]], float, int]  # labels (with __name__), value, epoch ms

_F = descriptor_pb2.FieldDescriptorProto


def _message(name: str, *fields: tuple[str, int, int, int, str]) -> descriptor_pb2.DescriptorProto:
    out = descriptor_pb2.DescriptorProto(name=name)
    for field_name, number, kind, label, type_name in fields:
        added = out.field.add(name=field_name, number=number, type=kind, label=label)
        if type_name:
            added.type_name = type_name
    return out


def _classes() -> tuple[type[Message], type[Message]]:
    file = descriptor_pb2.FileDescriptorProto(name="logwarden/prompb.proto", package="prometheus", syntax="proto3")
    one, many = _F.LABEL_OPTIONAL, _F.LABEL_REPEATED
    file.message_type.extend(
        [
            _message("Label", ("name", 1, _F.TYPE_STRING, one, ""), ("value", 2, _F.TYPE_STRING, one, "")),
            _message("Sample", ("value", 1, _F.TYPE_DOUBLE, one, ""), ("timestamp", 2, _F.TYPE_INT64, one, "")),
            _message(
                "TimeSeries",
                ("labels", 1, _F.TYPE_MESSAGE, many, ".prometheus.Label"),
                ("samples", 2, _F.TYPE_MESSAGE, many, ".prometheus.Sample"),
            ),
            _message("WriteRequest", ("timeseries", 1, _F.TYPE_MESSAGE, many, ".prometheus.TimeSeries")),
        ]
    )
    pool = descriptor_pool.DescriptorPool()  # our own: never clashes with another library's prometheus.* types
    pool.Add(file)
    return (
        message_factory.GetMessageClass(pool.FindMessageTypeByName("prometheus.WriteRequest")),
        message_factory.GetMessageClass(pool.FindMessageTypeByName("prometheus.TimeSeries")),
    )


WriteRequest, TimeSeries = _classes()


def encode(samples: Iterable[Sample]) -> bytes:
    """The snappy-compressed WriteRequest of `samples`, one time series each (labels sorted by name, as the
    protocol requires)."""
    request = WriteRequest()
    for labels, value, at in samples:
        series = request.timeseries.add()  # type: ignore[attr-defined]
        for name, text in sorted(labels):
            series.labels.add(name=name, value=text)
        series.samples.add(value=value, timestamp=at)
    return bytes(cramjam.snappy.compress_raw(request.SerializeToString()))


def decode(body: bytes) -> list[Sample]:
    """The samples of a remote-write body (tests, and a receiver)."""
    request = WriteRequest()
    request.ParseFromString(bytes(cramjam.snappy.decompress_raw(body)))
    return [
        ([(label.name, label.value) for label in series.labels], s.value, s.timestamp)
        for series in request.timeseries  # type: ignore[attr-defined]
        for s in series.samples
    ]
