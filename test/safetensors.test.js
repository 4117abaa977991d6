'use strict';
const test = require('tape');
const fs = require('fs');
const os = require('os');
const path = require('path');
const inv = require('..');

// An independent reader of the format: 8-byte little-endian header length, JSON header, raw data.
function parse(file) {
  const buf = fs.readFileSync(file);
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8'));
  return { header, data: buf.subarray(8 + n), headerLength: n };
}

test('files follow the safetensors layout exactly', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'invdiff-st-'));
  const file = path.join(dir, 'a.safetensors');
  inv.scope(() => {
    const w = inv.tensor([1, 2, 3, 4, 5, 6], [2, 3]);
    const d = inv.tensor(new Float64Array([0.25]), [1]);
    const i = inv.tensor(new BigInt64Array([7n, -8n]), [2]);
    inv.saveSafetensors(file, { w, d, i }, { format: 'pt', 'quote"d': 'line\nbreak' });
  });
  const { header, data, headerLength } = parse(file);
  t.equal(headerLength % 8, 0, 'header padded to 8 bytes');
  const { 'invdiff.crc32': crc, ...metadata } = header.__metadata__;
  t.deepEqual(metadata, { format: 'pt', 'quote"d': 'line\nbreak' }, 'metadata with escapes survives JSON.parse');
  t.match(crc, /^[0-9a-f]{8}$/, 'beside the checksum (test/crash-safety.test.js)');
  t.deepEqual(header.w, { dtype: 'F32', shape: [2, 3], data_offsets: [0, 24] });
  t.deepEqual(header.d, { dtype: 'F64', shape: [1], data_offsets: [24, 32] });
  t.deepEqual(header.i, { dtype: 'I64', shape: [2], data_offsets: [32, 48] });
  t.equal(data.length, 48, 'data is exactly the tensors');
  t.deepEqual(Array.from(new Float32Array(data.buffer.slice(data.byteOffset, data.byteOffset + 24))), [1, 2, 3, 4, 5, 6]);
  t.equal(data.readDoubleLE(24), 0.25);
  t.equal(data.readBigInt64LE(40), -8n);
  t.deepEqual(fs.readdirSync(dir), ['a.safetensors'], 'no temporary file is left behind');
  fs.rmSync(dir, { recursive: true });
  t.end();
});

test('every dtype round-trips, sync and async', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'invdiff-st-'));
  const file = path.join(dir, 'all.safetensors');
  const dtypes = ['float32', 'float64', 'float16', 'bfloat16', 'int64', 'int32', 'int16', 'int8', 'uint8', 'bool'];
  await inv.scopeAsync(async () => {
    const src = {};
    for (const dtype of dtypes) src[dtype] = inv.tensor([0, 1, 2, 3, 1, 0], [3, 2]).to({ dtype });
    src.empty = inv.zeros([0, 4]);
    src.scalar = inv.full([], 3.5);
    await inv.saveSafetensorsAsync(file, src, { k: 'v' });
    for (const loaded of [inv.loadSafetensors(file), await inv.loadSafetensorsAsync(file)]) {
      t.deepEqual(loaded.metadata, { k: 'v' });
      for (const [name, tensor] of Object.entries(src)) {
        const back = loaded.tensors[name];
        t.ok(back && back.dtype === tensor.dtype && back.equal(tensor), `${name} round-trips`);
      }
    }
  });
  fs.rmSync(dir, { recursive: true });
});

test('overwriting is atomic and bad files give clear errors', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'invdiff-st-'));
  const file = path.join(dir, 'c.safetensors');
  inv.scope(() => {
    inv.saveSafetensors(file, { x: inv.ones([2]) });
    inv.saveSafetensors(file, { x: inv.zeros([3]) });
    t.deepEqual(inv.loadSafetensors(file).tensors.x.shape, [3], 'the second save replaced the first');
  });
  inv.saveSafetensors(file, {}, { only: 'metadata' });
  const empty = inv.loadSafetensors(file);
  t.deepEqual([Object.keys(empty.tensors), empty.metadata], [[], { only: 'metadata' }], 'a file with no tensors round-trips');
  inv.scope(() => inv.saveSafetensors(file, { x: inv.ones([5]) }, { kind: 'k' }));
  t.deepEqual(inv.readSafetensorsMetadata(file), { kind: 'k' }, 'readSafetensorsMetadata reads the header only');
  inv.saveSafetensors(file, {});
  t.deepEqual(Object.keys(inv.loadSafetensors(file).tensors), [], 'and one with nothing at all');
  fs.writeFileSync(path.join(dir, 'short'), Buffer.from([1, 2, 3]));
  t.throws(() => inv.loadSafetensors(path.join(dir, 'short')), /too short to be a safetensors file/);
  const big = Buffer.alloc(16);
  big.writeBigUInt64LE(1000n);
  fs.writeFileSync(path.join(dir, 'lies'), big);
  t.throws(() => inv.loadSafetensors(path.join(dir, 'lies')), /header larger than the file/);
  t.throws(() => inv.readSafetensorsMetadata(path.join(dir, 'lies')), /truncated inside its header/);
  t.throws(() => inv.readSafetensorsMetadata(path.join(dir, 'short')), /not a safetensors file/);
  const header = Buffer.from('{"x":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(header.length));
  fs.writeFileSync(path.join(dir, 'trunc'), Buffer.concat([len, header, Buffer.alloc(8)]));
  t.throws(() => inv.loadSafetensors(path.join(dir, 'trunc')), /data_offsets outside the file/);
  t.throws(() => inv.loadSafetensors(path.join(dir, 'missing')), /cannot open/);
  t.throws(() => inv.scope(() => inv.saveSafetensors(path.join(dir, 'no', 'such', 'dir', 'f'), { x: inv.ones([1]) })), /cannot create/);
  fs.rmSync(dir, { recursive: true });
  t.end();
});

// A file from a header text and data bytes, for the cases the writer never produces.
function raw(dir, name, header, data) {
  const text = Buffer.from(header);
  const size = Buffer.alloc(8);
  size.writeBigUInt64LE(BigInt(text.length));
  const file = path.join(dir, name);
  fs.writeFileSync(file, Buffer.concat([size, text, data]));
  return file;
}

test("the reader is as strict as the format's own loader: no overlaps, holes, duplicates or trailing bytes", (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'invdiff-st-'));
  const f32 = (name, shape, begin, end) => `"${name}":{"dtype":"F32","shape":[${shape}],"data_offsets":[${begin},${end}]}`;
  const data = Buffer.from(new Float32Array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]).buffer);
  const good = raw(dir, 'good', `{${f32('b', [2], 16, 24)},"z":{"dtype":"I64","shape":[0,3],"data_offsets":[0,0]},${f32('a', [2, 2], 0, 16)}}   `, data.subarray(0, 24));
  inv.scope(() => {
    const { tensors } = inv.loadSafetensors(good);
    t.deepEqual(Array.from(tensors.a.toFloat32Array()), [1, 2, 3, 4], 'offsets in any order, an empty tensor and padding spaces are fine');
    t.deepEqual([Array.from(tensors.b.toFloat32Array()), tensors.z.shape], [[5, 6], [0, 3]]);
  });
  const emoji = raw(dir, 'emoji', `{${f32('\\ud83d\\ude00\\u00e9', [1], 0, 4)}}`, data.subarray(0, 4));
  t.deepEqual(Object.keys(inv.loadSafetensors(emoji).tensors), ['😀é'], 'a \\u surrogate pair is one character');
  const refused = [
    ['overlapping tensors', `{${f32('a', [4], 0, 16)},${f32('b', [4], 8, 24)}}`, 24, /tensors 'a' and 'b' sharing bytes/],
    ['two names for the same bytes', `{${f32('a', [4], 0, 16)},${f32('b', [4], 0, 16)}}`, 16, /sharing bytes/],
    ['a hole between tensors', `{${f32('a', [4], 0, 16)},${f32('b', [4], 24, 40)}}`, 40, /8 unused bytes before tensor 'b'/],
    ['trailing bytes', `{${f32('a', [4], 0, 16)}}`, 20, /4 bytes after the last tensor's data/],
    ['a duplicate tensor name', `{${f32('a', [2], 0, 8)},${f32('a', [2], 8, 16)}}`, 16, /tensor 'a' appears twice/],
    ['a duplicate metadata key', `{"__metadata__":{"k":"1","k":"2"}}`, 0, /metadata key 'k' appears twice/],
    ['two metadata objects', `{"__metadata__":{},"__metadata__":{}}`, 0, /a second '__metadata__'/],
    ['a field given twice', `{"a":{"dtype":"F32","dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, 4, /a second field 'dtype'/],
    ['an unknown field', `{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"x":1}}`, 4, /an unknown field 'x'/],
    ['a missing field', `{"a":{"dtype":"F32","data_offsets":[0,4]}}`, 4, /needs dtype, shape and data_offsets/],
    ['a negative size', `{${f32('a', [-1], 0, 4)}}`, 4, /expected a non-negative integer/],
    ['a sign inside a number', `{${f32('a', ['1-2'], 0, 4)}}`, 4, /expected '\]'/],
    ['an integer beyond int64', `{${f32('a', ['99999999999999999999'], 0, 4)}}`, 4, /an integer too large/],
    ['a shape larger than the file', `{${f32('a', [4294967296, 4294967296], 0, 16)}}`, 16, /a shape larger than the file/],
    ['a shape that is not its byte span', `{${f32('a', [3], 0, 16)}}`, 16, /needs 12 bytes for its shape and dtype, its data_offsets span 16/],
    ['offsets that are not [begin, end]', `{${f32('a', [0], 8, 4)}}`, 8, /data_offsets that are not \[begin, end\]/],
    ['text after the header object', `{${f32('a', [1], 0, 4)}}x`, 4, /bytes after the header's closing '}'/],
    ['a header that does not start with {', ` {${f32('a', [1], 0, 4)}}`, 4, /a header starts with '{'/],
    ['an unknown escape', `{"a\\q":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, 4, /unknown escape/],
    ['a lone surrogate', `{"\\ud83d":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, 4, /lone high surrogate/],
    ['a short \\u escape', `{"\\u12":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, 4, /four hex digits/],
  ];
  refused.forEach(([what, header, bytes, pattern], i) => t.throws(() => inv.loadSafetensors(raw(dir, `bad-${i}`, header, Buffer.alloc(bytes))), pattern, what));
  const latin1 = Buffer.concat([Buffer.from('{"a'), Buffer.from([0xe9]), Buffer.from(`":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`)]);
  t.throws(() => inv.loadSafetensors(raw(dir, 'latin1', latin1, Buffer.alloc(4))), /a header that is not UTF-8 text/, 'a name that is not UTF-8');
  fs.rmSync(dir, { recursive: true });
  t.end();
});
