"""Minimal ONNX protobuf editing without the `onnx` package.

onnxruntime only returns graph outputs. To read an intermediate tensor we append to the serialized model
a second `graph` field (ModelProto field 7) that holds one extra `output` ValueInfoProto (GraphProto field
12). Protobuf merges repeated occurrences of an embedded message, so the parser sees the original graph
with one more output. `initializer_values` reads small initializers (scales, zero points) the same way.
"""

from __future__ import annotations

import numpy as np

_NP = {1: np.float32, 2: np.uint8, 3: np.int8, 6: np.int32, 7: np.int64}


def _varint(buf: bytes, i: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = buf[i]
        i += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, i


def fields(buf: bytes):
    """(field number, wire type, value) of each field of a serialized protobuf message."""
    i = 0
    while i < len(buf):
        key, i = _varint(buf, i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _varint(buf, i)
        elif wire == 2:
            size, i = _varint(buf, i)
            value, i = buf[i:i + size], i + size
        elif wire in (1, 5):
            size = 8 if wire == 1 else 4
            value, i = buf[i:i + size], i + size
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        yield number, wire, value


def _enc_varint(n: int) -> bytes:
    out = bytearray()
    while True:
        low, n = n & 0x7F, n >> 7
        out.append(low | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    return _enc_varint(number << 3 | 2) + _enc_varint(len(payload)) + payload


def add_output(model: bytes, name: str, elem_type: int, dims: tuple) -> bytes:
    """The model bytes with tensor `name` (ONNX elem_type, dims: ints or symbolic names) as a graph output."""
    shape = b"".join(_field(1, _field(2, d.encode()) if isinstance(d, str) else _enc_varint(8) + _enc_varint(d))
                     for d in dims)
    tensor_type = _enc_varint(8) + _enc_varint(elem_type) + _field(2, shape)
    value_info = _field(1, name.encode()) + _field(2, _field(1, tensor_type))
    return model + _field(7, _field(12, value_info))


def initializer_values(model: bytes, names: list[str]) -> list[np.ndarray | None]:
    """Values of the named initializers (TensorProto with raw_data or packed typed data), None if absent."""
    wanted: dict[str, np.ndarray | None] = {n: None for n in names}
    graph = next((v for n, w, v in fields(model) if n == 7 and w == 2), b"")
    for number, wire, tensor in fields(graph):
        if number != 5 or wire != 2:
            continue
        parts: dict[int, list] = {}
        for n, w, v in fields(tensor):
            parts.setdefault(n, []).append((w, v))
        name = parts.get(8, [(2, b"")])[0][1].decode(errors="replace")
        if name not in wanted:
            continue
        dtype = _NP.get(parts.get(2, [(0, 1)])[0][1], np.float32)
        if 9 in parts:  # raw_data
            wanted[name] = np.frombuffer(parts[9][0][1], dtype=dtype)
        elif 4 in parts:  # float_data (packed)
            wanted[name] = np.frombuffer(parts[4][0][1], dtype="<f4")
        elif 5 in parts:  # int32_data, packed varints or single varint
            w, v = parts[5][0]
            vals, i = [], 0
            while w == 2 and i < len(v):
                x, i = _varint(v, i)
                vals.append(x)
            wanted[name] = np.array(vals if w == 2 else [v], dtype=np.int64)
    return [wanted[n] for n in names]
