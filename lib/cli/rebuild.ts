// invdiff rebuild: builds the native addon from the package's sources against the LibTorch found (LIBTORCH,
// Torch_DIR, Debian's libtorch-dev), with cmake-js, or node-gyp where there is no cmake, into build/Release,
// where the loader looks first. For platforms and LibTorch builds that no shipped prebuild fits.
import { spawnSync } from 'child_process';
import * as path from 'path';
import { packageRoot } from '../addon/scripts';
import type { Command } from './args';

export const rebuild: Command = {
  summary: 'build the native addon from source against the LibTorch found (LIBTORCH=... for your own)',
  usage: 'invdiff rebuild [--node-gyp]   (LIBTORCH=/path/to/libtorch invdiff rebuild for an unpacked LibTorch)',
  options: { 'node-gyp': { type: 'boolean' } },
  run(values) {
    const args = [path.join(packageRoot, 'scripts', 'build-addon.js'), ...(values['node-gyp'] ? ['--tool', 'node-gyp'] : [])];
    const build = spawnSync(process.execPath, args, { cwd: packageRoot, stdio: 'inherit' });
    if (build.status !== 0) return 1;
    // A fresh process, since this one may hold a stub where the addon did not load.
    const check = spawnSync(process.execPath, ['-e', `console.log('invdiff: the rebuilt addon loads, LibTorch ' + require(${JSON.stringify(packageRoot)}).backend().torch)`], { stdio: 'inherit' });
    return check.status === 0 ? 0 : 1;
  },
};
