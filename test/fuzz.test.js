'use strict';
// Fuzzing the readers of untrusted files in child processes (a crash ends only its child): thousands of
// mutated model files, training checkpoints (optimizer states) and images. Half of the safetensors mutants
// are of files without a checksum, so that mutations reach the checks behind it. Each must give a JS Error
// or a clean load: never a crash, never anything thrown that is not an Error.
const test = require('tape');
const fs = require('fs');
const os = require('os');
const path = require('path');
const inv = require('..');
const { lcg, readUntrusted, safetensorsMutants, withoutChecksum } = require('./helpers');
const { trainTiny } = require('./fixtures/untrusted');

const TINY_IDM = { channels: 8, groups: 4, heads: 2, multipliers: [1, 2], blocks: 1, attention: [false, true], steps: 2 };

function writeAll(dir, name, contents, ext) {
  return contents.map((bytes, i) => {
    const f = path.join(dir, `${name}-${i}${ext}`);
    fs.writeFileSync(f, bytes);
    return f;
  });
}

// Mutants of a checked file and of the same file without its checksum.
function mutantsOf(dir, name, file, count, random) {
  const bytes = fs.readFileSync(file);
  return [
    ...writeAll(dir, `${name}-checked`, safetensorsMutants(bytes, count / 2, random), '.safetensors'),
    ...writeAll(dir, `${name}-plain`, safetensorsMutants(withoutChecksum(bytes), count / 2, random), '.safetensors'),
  ];
}

function summarise(t, area, files, results) {
  const crashes = results.filter((r) => r.outcome === 'crash' || r.outcome === 'bad');
  const errors = results.filter((r) => r.outcome === 'error').length;
  t.equal(results.length, files.length, `${area}: every mutant was tried`);
  t.deepEqual(crashes.slice(0, 10).map((r) => `${path.basename(r.file)}: ${r.message}`), [], `${area}: no crash and nothing but Errors thrown (${crashes.length} did)`);
  return { tried: files.length, survived: files.length - crashes.length, errors, loaded: files.length - errors - crashes.length };
}

// Images: flipped bytes anywhere, truncations, spliced-in garbage and duplicated chunks of each format.
async function imageMutants(dir, random) {
  const bases = [];
  await inv.scopeAsync(async () => {
    const gray = inv.deadLeaves({ count: 1, size: 32, seed: 5 }).narrow(2, 0, 20);
    const rgb = inv.cat([gray, gray.flip([2]), gray.flip([3])], { dim: 1 });
    for (const [name, x] of [['gray.png', gray], ['rgb.png', rgb], ['rgb.jpg', rgb], ['gray.bmp', gray], ['rgb.bmp', rgb], ['rgb.tif', rgb], ['rgb.webp', rgb]]) {
      const f = path.join(dir, name);
      await inv.io.writeImage(f, x);
      bases.push(f);
    }
  });
  const files = [];
  for (const base of bases) {
    const bytes = fs.readFileSync(base);
    const ext = path.extname(base);
    const make = [
      () => { const b = Buffer.from(bytes); for (let k = 0; k < 1 + random(8); k++) b[random(b.length)] = random(256); return b; },
      () => bytes.subarray(0, random(bytes.length)),
      () => { const at = random(bytes.length); return Buffer.concat([bytes.subarray(0, at), Buffer.from(Array.from({ length: 1 + random(64) }, () => random(256))), bytes.subarray(at)]); },
      () => { const a = random(bytes.length); const n = random(256); return Buffer.concat([bytes.subarray(0, a + n), bytes.subarray(a, a + n), bytes.subarray(a + n)]); },
    ];
    files.push(...writeAll(dir, `${path.basename(base, ext)}-${ext.slice(1)}`, Array.from({ length: 160 }, (_, i) => make[i % make.length]()), ext));
  }
  return files;
}

test('fuzz: mutated model files, training checkpoints and images, in child processes: a JS Error or a clean load, never a crash', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'invdiff-fuzz-'));
  const random = lcg(2026);

  const idmFile = path.join(dir, 'idm.safetensors');
  const idm = new inv.models.IDM(TINY_IDM);
  idm.save(idmFile);
  idm.dispose();
  const mlpFile = path.join(dir, 'mlp.safetensors');
  const mlp = inv.nn.mlp({ sizes: [16, 32, 8] });
  mlp.save(mlpFile);
  mlp.dispose();
  const checkpoint = path.join(dir, 'checkpoint.safetensors');
  await trainTiny(checkpoint, 3);

  const areas = [
    ['model files', 'model', mutantsOf(dir, 'idm', idmFile, 800, random)],
    ['module files', 'module', mutantsOf(dir, 'mlp', mlpFile, 600, random)],
    ['training checkpoints', 'optimizer', mutantsOf(dir, 'checkpoint', checkpoint, 600, random)],
    ['images', 'image', await imageMutants(dir, random)],
  ];
  let tried = 0;
  let survived = 0;
  for (const [area, kind, files] of areas) {
    const s = summarise(t, area, files, readUntrusted(kind, files, 200));
    tried += s.tried;
    survived += s.survived;
    console.log(`# fuzz ${area}: ${s.tried} mutants, ${s.survived} survived (${s.errors} JS errors, ${s.loaded} loaded)`);
  }
  t.ok(tried >= 3000, `${tried} mutants in all (at least 3,000)`);
  console.log(`# summary fuzz: ${tried} mutated files read in child processes, ${survived} survived (JS error or clean load), ${tried - survived} crashed`);
  fs.rmSync(dir, { recursive: true });
});
