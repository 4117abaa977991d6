"""safetensors files: an 8-byte little-endian header length, a JSON header naming each tensor's dtype,
shape and byte range, then the raw little-endian bytes. Enough to read invdiff's checkpoints and write
results back; metadata is read on its own (metadata()) and not written."""
import json
import struct

import torch

DTYPES = {'F64': torch.float64, 'F32': torch.float32, 'F16': torch.float16, 'BF16': torch.bfloat16,
          'I64': torch.int64, 'I32': torch.int32, 'I16': torch.int16, 'I8': torch.int8, 'U8': torch.uint8, 'BOOL': torch.bool}
NAMES = {v: k for k, v in DTYPES.items()}


def read(path):
    with open(path, 'rb') as f:
        data = f.read()
    (length,) = struct.unpack('<Q', data[:8])
    return json.loads(data[8:8 + length]), data, length


def metadata(path):
    """The file's string metadata (invdiff's kind, options and card)."""
    return read(path)[0].get('__metadata__', {})


def load(path):
    header, data, length = read(path)
    body = memoryview(data)[8 + length:]
    tensors = {}
    for name, entry in header.items():
        if name == '__metadata__':
            continue
        start, end = entry['data_offsets']
        flat = torch.frombuffer(bytearray(body[start:end]), dtype=DTYPES[entry['dtype']]) if end > start else torch.empty(0, dtype=DTYPES[entry['dtype']])
        tensors[name] = flat.reshape(entry['shape'])
    return tensors


def save(path, tensors):
    header, chunks, offset = {}, [], 0
    for name, t in tensors.items():
        raw = t.detach().contiguous().cpu().numpy().tobytes()
        header[name] = {'dtype': NAMES[t.dtype], 'shape': list(t.shape), 'data_offsets': [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    text = json.dumps(header).encode()
    text += b' ' * (-len(text) % 8)  # the format aligns the tensor bytes to 8
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(text)) + text + b''.join(chunks))
