'use strict';
// The benchmark report's workloads, one table for the three sides: the TS side (bench/ts_side.js) reads the
// entries, bench/native/bench.cpp and bench/python_side.py read them as the lines lineOf writes,
// `KIND key=value ...` with op.* the operator's options and model.* the model's.
const fs = require('fs');
const path = require('path');
const inv = require('..');

const root = path.resolve(__dirname, '..');
// Options that keep every family's A⁺ closed-form at 64² (bench/python_side.py times the same closed forms).
const OPERATOR_OPTIONS = { blockCS: { ratio: 0.1 }, stridedBlur: { stride: 4 }, mri: { acceleration: 4 }, ct: { views: 60 } };

// A shipped checkpoint and its options (the native side builds the module from them, then loads the weights),
// or, without the file, random weights of `fallback`.
function checkpoint(name, fallback) {
  const file = path.join(root, 'models', `${name}.safetensors`);
  if (!fs.existsSync(file)) return { model: fallback, note: `random weights: no models/${name}.safetensors` };
  return { model: JSON.parse(inv.readSafetensorsMetadata(file)['invdiff.options']), file };
}

function workloads({ quick }) {
  const list = [{ name: '100 four-element adds', kind: 'add' }];
  const n = quick ? 256 : 1024; // the machine's GEMM throughput, beside which the GEMM-heavy rows are put
  list.push({ name: `matmul ${n}² fp32`, kind: 'matmul', keys: { n } });
  list.push({ name: 'MLP 64-256-256-10 Adam step, batch 128', kind: 'mlp', keys: { batch: 128 }, model: { sizes: [64, 256, 256, 10], activation: 'relu' } });
  const families = quick ? ['inpainting', 'mri'] : inv.operators.names();
  const image = quick ? [1, 32, 32] : [1, 64, 64];
  for (const family of families) {
    for (const apply of ['A', 'At', 'pinv']) {
      list.push({ name: `${family} ${apply === 'At' ? 'Aᵀ' : apply === 'pinv' ? 'A⁺' : 'A'}, 8×${image.join('×')}`, kind: 'operator', keys: { family, apply, shape: image, batch: 8 }, op: OPERATOR_OPTIONS[family] });
    }
  }
  const idm = quick ? { channels: 8, heads: 2, multipliers: [1, 2], attention: [false, true], steps: 1 } : { channels: 16, heads: 2, multipliers: [1, 2], attention: [false, true], steps: 3 };
  for (const blocks of quick ? [1] : [2, 6]) {
    for (const reversible of [true, false]) {
      list.push({
        name: `IDM step, ${blocks} blocks/level, ${reversible ? 'reversible' : 'stored'}, 4×${image.join('×')}`,
        kind: 'idm',
        keys: { shape: image, batch: 4, family: 'blockCS' },
        op: { ratio: 0.1 },
        model: { ...idm, blocks, reversible },
      });
    }
  }
  const prior = quick ? { model: { channels: 8, multipliers: [1, 2], blocks: 1, heads: 2 } } : checkpoint('unconditional', { channels: 48, multipliers: [1, 2, 2], blocks: 1, heads: 4 });
  const small = quick ? [1, 16, 16] : [1, 64, 64];
  list.push({ name: `prior NFE, 4×${small.join('×')}`, kind: 'prior', keys: { shape: small, batch: 4, sigma: 1 }, ...prior });
  const heun = quick ? 2 : 32; // 2N − 1 NFEs: Heun-63 at N = 32
  list.push({ name: `Heun-${2 * heun - 1} sample, 1×${small.join('×')}`, kind: 'heun', keys: { shape: small, batch: 1, steps: heun }, ...prior });
  const ddnm = quick ? 3 : 100;
  list.push({ name: `DDNM-${ddnm} sample, 10% block CS, 1×${small.join('×')}`, kind: 'ddnm', keys: { shape: small, batch: 1, steps: ddnm, family: 'blockCS' }, op: { ratio: 0.1 }, ...prior });
  const invfussion = quick
    ? { model: { widths: [16, 32], depths: [1, 1], headDim: 8, mappingWidth: 32, mappingHidden: 64 } }
    : checkpoint('invfussion-cpu32', { preset: 'cpu32' });
  const tiny = quick ? [1, 16, 16] : [1, 32, 32];
  list.push({ name: `InvFussion NFE, strided blur, 8×${tiny.join('×')}`, kind: 'invfussion', keys: { shape: tiny, batch: 8, sigma: 1, family: 'stridedBlur' }, op: { stride: 2 }, ...invfussion });
  return list;
}

const text = (v) => (Array.isArray(v) ? `${v.map(Number).join(',')},` : String(v)); // a trailing comma marks a list
function lineOf(w, file = w.file) {
  const items = [w.kind];
  for (const [prefix, values] of [['', w.keys], ['op.', w.op], ['model.', w.model]]) {
    for (const [k, v] of Object.entries(values ?? {})) items.push(`${prefix}${k}=${text(v)}`);
  }
  if (file) items.push(`file=${file}`);
  return items.join(' ');
}

module.exports = { workloads, lineOf };
