'use strict';
// OpenBLAS's kernels named from the CPU flags before LibTorch loads (lib/addon/blas-core.ts), and the user's
// OPENBLAS_CORETYPE left alone.
const test = require('tape');
const fs = require('fs');
const { spawnSync } = require('child_process');
const { openBlasCoreFor } = require('../dist/addon/blas-core');

const flags = (s) => new Set(s.split(' '));

test('openBlasCoreFor maps Intel feature flags to OpenBLAS core types', (t) => {
  const skx = 'sse4_2 avx avx2 fma avx512f avx512dq avx512cd avx512bw avx512vl';
  t.equal(openBlasCoreFor('GenuineIntel', flags(`${skx} avx512_bf16 avx512_fp16`)), 'Cooperlake', 'Sapphire Rapids (bf16)');
  t.equal(openBlasCoreFor('GenuineIntel', flags(skx)), 'SkylakeX', 'AVX-512 without bf16');
  t.equal(openBlasCoreFor('GenuineIntel', flags('sse4_2 avx avx2 fma')), 'Haswell', 'AVX2 and FMA');
  t.equal(openBlasCoreFor('GenuineIntel', flags('sse4_2 avx avx512f')), undefined, 'AVX-512F alone is not SkylakeX');
  t.equal(openBlasCoreFor('GenuineIntel', flags('sse3 sse4_1')), undefined, 'older: OpenBLAS decides');
  t.equal(openBlasCoreFor('AuthenticAMD', flags(`${skx} avx512_bf16`)), undefined, 'AMD: OpenBLAS knows its families');
  t.end();
});

// What a fresh process loads, with the environment given.
function loaded(env) {
  const code = "const inv = require('.'); const b = inv.backend(); console.log(JSON.stringify({ core: b.blasCore, env: process.env.OPENBLAS_CORETYPE ?? null }))";
  const r = spawnSync(process.execPath, ['-e', code], { cwd: `${__dirname}/..`, env, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(r.stderr);
  return JSON.parse(r.stdout);
}

test('a fresh process loads OpenBLAS with the kernels for its CPU, or the ones the user named', (t) => {
  const { OPENBLAS_CORETYPE, ...rest } = process.env;
  const mine = loaded(rest);
  if (!mine.core) {
    t.comment('LibTorch does not use OpenBLAS here: nothing to choose');
    t.equal(mine.core, '');
    return t.end();
  }
  const info = fs.readFileSync('/proc/cpuinfo', 'utf8');
  const expected = openBlasCoreFor(info.match(/^vendor_id\s*:\s*(\S+)/m)[1], new Set(info.match(/^flags\s*:(.*)$/m)[1].trim().split(/\s+/)));
  if (expected) {
    t.equal(mine.env, expected, `OPENBLAS_CORETYPE set to ${expected} for LibTorch and child processes`);
    t.equal(mine.core.toLowerCase(), expected.toLowerCase(), `OpenBLAS runs ${mine.core} kernels`);
  } else {
    t.equal(mine.env, null, 'no core type named for this CPU: OpenBLAS decides');
  }
  const given = loaded({ ...rest, OPENBLAS_CORETYPE: 'Haswell' });
  t.equal(given.env, 'Haswell', "the user's OPENBLAS_CORETYPE is kept");
  t.equal(given.core.toLowerCase(), 'haswell', 'and OpenBLAS follows it');
  t.end();
});
