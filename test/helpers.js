'use strict';
// Shared test helpers: closeness of arrays with a message that shows the worst element, untrusted files
// read in child processes, and a seeded generator for mutating them.
const { spawnSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

function maxAbsDiff(a, b) {
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(Number(a[i]) - Number(b[i])));
  return worst;
}

function close(t, actual, expected, tol, msg) {
  const a = Array.from(actual);
  const e = Array.from(expected);
  if (a.length !== e.length) return t.fail(`${msg}: length ${a.length} vs ${e.length}`);
  const d = maxAbsDiff(a, e);
  t.ok(d <= tol, `${msg} (max |diff| ${d.toExponential(2)} <= ${tol})`);
}

/**
 * Reads each file with fixtures/untrusted.js's handler for `kind`, in child processes of `batch` files, so a
 * crash ends only its child: [{ file, outcome: 'ok' | 'error' | 'bad' | 'crash', message }] in file order.
 * After a crash the rest of that batch runs in a fresh child.
 */
function readUntrusted(kind, files, batch = 60) {
  const list = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'invdiff-untrusted-')), 'files.json');
  const results = [];
  while (results.length < files.length) {
    const todo = files.slice(results.length, results.length + batch);
    fs.writeFileSync(list, JSON.stringify(todo));
    const child = spawnSync(process.execPath, [path.join(__dirname, 'fixtures', 'untrusted.js'), kind, list], { encoding: 'utf8', maxBuffer: 1 << 26 });
    const lines = child.stdout.split('\n').filter((l) => /^\d+ (ok|error|bad)/.test(l));
    for (const line of lines) {
      const [, index, outcome, message] = line.match(/^(\d+) (\w+) ?(.*)$/);
      results.push({ file: todo[Number(index)], outcome, message });
    }
    const why = `${child.signal ?? `exit ${child.status}`}: ${(child.stderr || '').trim().split('\n').slice(-3).join(' | ')}`;
    if (lines.length < todo.length) results.push({ file: todo[lines.length], outcome: 'crash', message: why });
    else if (child.status !== 0) Object.assign(results[results.length - 1], { outcome: 'crash', message: `at exit, ${why}` }); // heap damage found on the way out
  }
  fs.rmSync(path.dirname(list), { recursive: true, force: true });
  return results;
}

/** A seeded generator of integers in [0, n), so a failing mutation can be reproduced. */
function lcg(seed) {
  let s = seed >>> 0;
  return (n) => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s % n;
  };
}

/**
 * The bytes of a safetensors file without its invdiff.crc32 checksum, as other writers (and invdiff before
 * checksums) write it: such files load unverified, so mutations of them reach the checks past the checksum.
 */
function withoutChecksum(bytes) {
  const n = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, 8 + n).toString('utf8'));
  const { 'invdiff.crc32': _crc, ...meta } = header.__metadata__ ?? {};
  let json = JSON.stringify({ ...header, __metadata__: meta });
  json += ' '.repeat((8 - (Buffer.byteLength(json) % 8)) % 8);
  const size = Buffer.alloc(8);
  size.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));
  return Buffer.concat([size, Buffer.from(json, 'utf8'), bytes.subarray(8 + n)]);
}

/**
 * count mutants of a safetensors file's bytes, cycling through truncations, flipped header bits, changed
 * header digits and overwritten data bytes, drawn from random (an lcg).
 */
function safetensorsMutants(bytes, count, random) {
  const headerEnd = 8 + Number(bytes.readBigUInt64LE(0));
  const digits = [...bytes.subarray(8, headerEnd).toString('latin1').matchAll(/\d/g)].map((m) => 8 + m.index);
  const kinds = [
    () => bytes.subarray(0, random(bytes.length)),
    () => { const b = Buffer.from(bytes); b[8 + random(headerEnd - 8)] ^= 1 << random(8); return b; },
    () => { const b = Buffer.from(bytes); b[digits[random(digits.length)]] = 0x30 + random(10); return b; },
    () => { const b = Buffer.from(bytes); for (let k = 0; k < 4; k++) b[headerEnd + random(bytes.length - headerEnd)] = random(256); return b; },
  ];
  return Array.from({ length: count }, (_, i) => kinds[i % kinds.length]());
}

module.exports = { close, lcg, maxAbsDiff, readUntrusted, safetensorsMutants, withoutChecksum };
