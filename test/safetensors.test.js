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
  t.deepEqual(header.__metadata__, { format: 'pt', 'quote"d': 'line\nbreak' }, 'metadata with escapes survives JSON.parse');
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
