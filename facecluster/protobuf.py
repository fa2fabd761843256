"""The protobuf wire format, enough to read and edit ONNX model files without the `onnx` package.

Used by onnx.py (graph fixes applied when a model is loaded) and similarity/onnxgraph.py (an extra graph
output, small initializer values). Imports nothing else of the package.
"""

from __future__ import annotations


def varint(buf: bytes, i: int) -> tuple[int, int]:
    """(value, index after it) of the varint starting at buf[i]."""
    value = shift = 0
    while True:
        byte = buf[i]
        i += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, i
        shift += 7


def encode_varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def fields(buf: bytes, raw: bool = False):
    """(field number, wire type, value) of every top-level field of a serialized message. Length-delimited
    fields give their payload bytes; the others give the decoded varint or the fixed-size bytes, or with
    `raw` the field as encoded, key included (what `emit` writes back unchanged)."""
    i = 0
    while i < len(buf):
        key, j = varint(buf, i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, end = varint(buf, j)
            yield number, wire, (buf[i:end] if raw else value)
        elif wire == 2:
            length, start = varint(buf, j)
            end = start + length
            yield number, wire, buf[start:end]
        elif wire in (1, 5):
            end = j + (8 if wire == 1 else 4)
            yield number, wire, (buf[i:end] if raw else buf[j:end])
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        i = end


def field(number: int, payload: bytes) -> bytes:
    """A length-delimited field."""
    return encode_varint(number << 3 | 2) + encode_varint(len(payload)) + payload


def emit(number: int, wire: int, payload: bytes) -> bytes:
    """A field read with fields(..., raw=True), written back (a length-delimited payload may have changed)."""
    return field(number, payload) if wire == 2 else payload


def rewrite(buf: bytes, number: int, change) -> bytes:
    """`buf` with every length-delimited field `number` replaced by change(payload) (None drops it)."""
    out = []
    for n, wire, payload in fields(buf, raw=True):
        if n == number and wire == 2:
            payload = change(payload)
            if payload is None:
                continue
        out.append(emit(n, wire, payload))
    return b"".join(out)


def strings(buf: bytes, number: int) -> list[str]:
    return [p.decode() for n, w, p in fields(buf) if n == number and w == 2]
