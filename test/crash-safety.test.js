'use strict';
// Saves that die: every file carries a checksum verified on load; a writer SIGKILLed at any moment leaves the
// previous or the new complete file; the temporary files of dead writers go with the next save in their
// directory, those of live writers stay; a training run killed mid-checkpoint resumes bit for bit.
const test = require('tape');
const { spawn, spawnSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');
const inv = require('..');
const { lcg } = require('./helpers');
const { tinyRun } = require('./fixtures/saver');

const SAVER = path.join(__dirname, 'fixtures', 'saver.js');
// One thread, here and in the savers: on a loaded 2-core machine two make the tiny training runs crawl.
const ENV = { ...process.env, INVDIFF_NUM_THREADS: '1' };
inv.setNumThreads(1);
const TEMP = /\.tmp-\d+-\d+$/;

function headerOf(file) {
  const buf = fs.readFileSync(file);
  const n = Number(buf.readBigUInt64LE(0));
  return { buf, n, header: JSON.parse(buf.subarray(8, 8 + n).toString('utf8')) };
}

test('every file carries a CRC-32 of its header and data, verified on load; files without one still load', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'invdiff-crash-'));
  const file = path.join(dir, 'a.safetensors');
  inv.scope(() => inv.saveSafetensors(file, { w: inv.arange(0, 64).reshape([8, 8]), b: inv.ones([3]) }, { note: 'kept', 'invdiff.crc32': 'ignored' }));
  const { buf, n, header } = headerOf(file);
  t.match(header.__metadata__['invdiff.crc32'], /^[0-9a-f]{8}$/, 'the checksum is in the metadata, 8 hex digits (a value passed in is replaced)');
  const loaded = inv.loadSafetensors(file);
  t.deepEqual(loaded.metadata, { note: 'kept' }, 'load verifies it and returns the metadata as the caller gave it');
  for (const x of Object.values(loaded.tensors)) x.dispose();
  t.deepEqual(inv.readSafetensorsMetadata(file), { note: 'kept' }, 'readSafetensorsMetadata leaves it out too');

  // One flipped bit in the data, in a metadata value, in a shape digit kept consistent: each is caught.
  const damaged = (name, edit) => {
    const copy = Buffer.from(buf);
    edit(copy);
    const f = path.join(dir, `${name}.safetensors`);
    fs.writeFileSync(f, copy);
    return f;
  };
  const dataAt = 8 + n;
  const cases = [
    ['a bit of tensor data', (c) => (c[dataAt + 100] ^= 0x01)],
    ['a metadata value', (c) => c.write('KEPT', c.indexOf('kept', 8))],
    ['a tensor name', (c) => c.write('x', c.indexOf('"w"', 8) + 1)],
  ];
  for (const [what, edit] of cases)
    t.throws(() => inv.loadSafetensors(damaged(what.replace(/ /g, '-'), edit)), /fails its checksum \(invdiff\.crc32 [0-9a-f]{8}, the contents give [0-9a-f]{8}\)/, `${what} changed: refused by the checksum`);

  // A file as other writers (and invdiff before checksums) write it: no checksum, loads as before.
  const meta = { ...header.__metadata__ };
  delete meta['invdiff.crc32'];
  let json = JSON.stringify({ ...header, __metadata__: meta });
  json += ' '.repeat((8 - (json.length % 8)) % 8);
  const size = Buffer.alloc(8);
  size.writeBigUInt64LE(BigInt(json.length));
  const plain = path.join(dir, 'plain.safetensors');
  fs.writeFileSync(plain, Buffer.concat([size, Buffer.from(json), buf.subarray(dataAt)]));
  inv.scope(() => {
    const back = inv.loadSafetensors(plain);
    t.deepEqual(back.metadata, { note: 'kept' }, 'a file without a checksum loads');
    t.equal(back.tensors.w.sum().item(), 2016, 'with its values');
  });
  fs.rmSync(dir, { recursive: true });
  t.end();
});

test("the next save removes dead writers' temporary files and leaves live writers' alone", (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'invdiff-crash-'));
  const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout;
  const sleeper = spawn('sleep', ['60']);
  const files = {
    dead: path.join(dir, `model.safetensors.tmp-${dead}-123`),
    live: path.join(dir, `model.safetensors.tmp-${sleeper.pid}-456`),
    // A dead pid on a file some live process holds the lock of: a writer in another pid namespace.
    locked: path.join(dir, `other.safetensors.tmp-${dead}-789`),
    own: path.join(dir, `mine.safetensors.tmp-${process.pid}-1`),
    unrelated: path.join(dir, `notes.tmp-${dead}`),
  };
  for (const f of Object.values(files)) fs.writeFileSync(f, 'partial');
  const holder = spawn('flock', [files.locked, 'sleep', '60']);
  // flock prints nothing: wait until it holds the lock (a second, non-blocking flock then fails).
  while (spawnSync('flock', ['-n', files.locked, 'true']).status === 0) spawnSync('sleep', ['0.05']);
  inv.scope(() => inv.saveSafetensors(path.join(dir, 'fresh.safetensors'), { x: inv.ones([2]) }));
  const left = fs.readdirSync(dir);
  t.notOk(left.includes(path.basename(files.dead)), "a dead writer's temporary file is removed");
  for (const k of ['live', 'locked', 'own', 'unrelated']) t.ok(left.includes(path.basename(files[k])), `${k}: kept`);
  holder.kill('SIGKILL');
  sleeper.kill('SIGKILL');
  fs.rmSync(dir, { recursive: true });
  t.end();
});

// Starts a saver, kills it with SIGKILL after a random delay past its first complete save.
function killedSaver(mode, file, delayMs) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [SAVER, mode, file], { stdio: ['ignore', 'pipe', 'pipe'], env: ENV });
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    child.stdout.once('data', () => setTimeout(() => child.kill('SIGKILL'), delayMs));
    child.on('exit', (code, signal) => (signal === 'SIGKILL' ? resolve() : reject(new Error(`saver ${mode} ended with ${signal ?? code}: ${err}`))));
  });
}

// What must hold after each kill: the file loads with its checksum verified, as what its mode writes.
const check = {
  sync: (file) => inv.scope(() => inv.loadSafetensors(file).tensors.a.shape.join('x') === '512x1024'),
  async: async (file) => {
    const { tensors } = await inv.loadSafetensorsAsync(file);
    const ok = tensors.a.shape.join('x') === '512x1024';
    for (const x of Object.values(tensors)) x.dispose();
    return ok;
  },
  module: (file) => {
    const net = inv.Module.load(file);
    const ok = net.parameters().length === 4;
    net.dispose();
    return ok;
  },
  trainer: (file) => inv.scope(() => JSON.parse(inv.loadSafetensors(file).metadata['invdiff.checkpoint']).step >= 1),
};

test('100 SIGKILLs during saves (sync, async, module, trainer checkpoints): a loadable, checksum-verified file every time, and no litter after the next save', async (t) => {
  const rand = lcg(20);
  let survived = 0;
  let litter = 0;
  let bitForBit = 0;
  const trials = 25;
  for (const mode of ['sync', 'async', 'module', 'trainer']) {
    let modeOk = 0;
    for (let k = 0; k < trials; k++) {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'invdiff-kill-'));
      const file = path.join(dir, 'file.safetensors');
      await killedSaver(mode, file, rand(mode === 'trainer' ? 400 : 250));
      let ok = false;
      try {
        ok = await check[mode](file);
      } catch (e) {
        t.fail(`${mode} trial ${k}: ${e.message}`);
      }
      if (ok) modeOk++;
      const temps = fs.readdirSync(dir).filter((f) => TEMP.test(f));
      litter += temps.length;
      // The next save in the directory removes what the dead writer left.
      inv.scope(() => inv.saveSafetensors(path.join(dir, 'next.safetensors'), { x: inv.ones([1]) }));
      t.equal(fs.readdirSync(dir).filter((f) => TEMP.test(f)).length, 0, `${mode} trial ${k}: no temporary file after the next save (${temps.length} before)`);
      if (mode === 'trainer' && k < 3) {
        // Resuming continues bit for bit: two more steps equal an uninterrupted run of as many.
        const step = JSON.parse(inv.readSafetensorsMetadata(file)['invdiff.checkpoint']).step;
        const resumed = await tinyRun(file, step + 2);
        const fresh = await tinyRun(path.join(dir, 'fresh.safetensors'), step + 2);
        const same = resumed.weights.length === fresh.weights.length && resumed.weights.every((v, i) => Object.is(v, fresh.weights[i]));
        t.ok(same, `trainer trial ${k}: killed after step ${step}, resumed to ${step + 2}: the same weights bit for bit as an uninterrupted run`);
        if (same) bitForBit++;
      }
      fs.rmSync(dir, { recursive: true });
    }
    t.equal(modeOk, trials, `${mode}: ${modeOk} of ${trials} killed saves left a loadable, checksum-verified file`);
    survived += modeOk;
  }
  console.log(`# summary crash-safety: ${survived} of ${4 * trials} SIGKILL trials left a loadable, checksum-verified file; ${litter} temporary files left by killed writers, all removed by the next save; ${bitForBit} of 3 resumes bit for bit`);
});
