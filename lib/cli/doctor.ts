// invdiff doctor: why the native addon loads or not, and what it runs on (LibTorch, BLAS, threads, CUDA).
// It must run when the addon does not load, so it imports nothing that calls the addon on import.
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import { adviceFor } from '../addon/advice';
import { chooseOpenBlasCore } from '../addon/blas-core';
import { describeAttempts } from '../addon/load';
import { backend } from '../backend';
import { addonDiagnosis, addonError } from '../tensor/native';
import type { Command } from './args';

// The BLAS LibTorch called into, from the libraries mapped into this process once the addon is loaded.
function blasInUse(): { file: string; kind: string } | undefined {
  const maps = fs.readFileSync('/proc/self/maps', 'utf8');
  const file = (maps.match(/\s(\/\S*(?:blas|mkl)\S*\.so[.\d]*)\n/i) || [])[1];
  if (!file) return undefined;
  const real = fs.realpathSync(file);
  const kind = /openblas/i.test(real) ? 'OpenBLAS' : /mkl/i.test(real) ? 'MKL' : /\/blas\//.test(real) ? 'the reference BLAS (slow)' : 'a BLAS';
  return { file: real, kind };
}

const version = (cmd: string) => {
  const r = spawnSync(cmd, ['--version'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.split('\n')[0] : 'not found';
};

export const doctor: Command = {
  summary: 'why the native addon loads or not; LibTorch, BLAS, threads, CUDA',
  usage: 'invdiff doctor [--json]',
  options: { json: { type: 'boolean' } },
  run(values) {
    const d = addonDiagnosis;
    const facts = addonError ? undefined : { backend: backend(), blas: blasInUse(), threadsRequested: process.env.INVDIFF_NUM_THREADS };
    if (values.json) {
      console.log(JSON.stringify({ ...d, ...facts, loaded: !addonError }, null, 2));
      return addonError ? 1 : 0;
    }
    const s = d.system;
    console.log(`Node ${process.version} (Node-API ${s.napi}), ${s.platform}-${s.arch}, glibc ${s.glibc ?? 'none'}, libstdc++ up to GLIBCXX_${s.glibcxx} (${s.libstdcxx})`);
    for (const line of describeAttempts(d)) console.log(line);
    if (facts) {
      const b = facts.backend;
      console.log(`threads: ${b.threads}${b.blasThreads > 0 ? `, OpenBLAS's pool ${b.blasThreads}` : ''}${facts.threadsRequested ? ` (INVDIFF_NUM_THREADS=${facts.threadsRequested})` : ' (the available cores; INVDIFF_NUM_THREADS sets them)'}`);
      console.log(`CUDA: ${b.cuda ? `${b.cudaDevices} device(s)` : `not available${d.libtorch.found?.cuda ? '' : ' (a CPU-only LibTorch)'}; invdiff's CUDA paths are untested`}`);
      const blas = facts.blas;
      const chosen = chooseOpenBlasCore();
      const kernels = b.blasCore ? `, ${b.blasCore} kernels${chosen.by ? ` (${chosen.by === 'invdiff' ? 'chosen by invdiff from the CPU flags; OPENBLAS_CORETYPE overrides' : 'OPENBLAS_CORETYPE'})` : ''}` : '';
      console.log(`BLAS: ${blas ? `${blas.kind}, ${blas.file}${kernels}` : 'none mapped (LibTorch may have its own)'}`);
      if (blas && blas.kind.startsWith('the reference')) console.log('  Debian: apt-get install libopenblas0-pthread makes matrix products about 25x faster');
    } else {
      for (const line of adviceFor(d.libtorch.found, d.attempts)) console.log(line);
    }
    console.log(`for \`invdiff rebuild\`: cmake: ${version('cmake')}; c++: ${version('c++')}; LibTorch headers: ${d.libtorch.found?.canBuild ? 'yes' : 'no'}`);
    return addonError ? 1 : 0;
  },
};
