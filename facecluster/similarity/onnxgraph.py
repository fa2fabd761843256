"""Minimal ONNX protobuf editing without the `onnx` package.

onnxruntime only returns graph outputs. To read an intermediate tensor we append to the serialized model
a second `graph` field (ModelProto field 7) that holds one extra `output` ValueInfoProto (GraphProto field
12). Protobuf merges repeated occurrences of an embedded message, so the parser sees the original graph
with one more output. `initializer_values` reads small initializers (scales, zero points) the same way.
"""

from __future__ import annotations

import numpy as np

from ..protobuf import encode_varint, field, fields, varint

_NP = {1: np.float32, 2: np.uint8, 3: np.int8, 6: np.int32, 7: np.int64}


def add_output(model: bytes, name: str, elem_type: int, dims: tuple) -> bytes:
    """The model bytes with tensor `name` (ONNX elem_type, dims: ints or symbolic names) as a graph output."""
    shape = b"".join(field(1, field(2, d.encode()) if isinstance(d, str) else encode_varint(8) + encode_varint(d))
                     for d in dims)
    tensor_type = encode_varint(8) + encode_varint(elem_type) + field(2, shape)
    value_info = field(1, name.encode()) + field(2, field(1, tensor_type))
    return model + field(7, field(12, value_info))


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
                x, i = varint(v, i)
                vals.append(x)
            wanted[name] = np.array(vals if w == 2 else [v], dtype=np.int64)
    return [wanted[n] for n in names]
