#!/usr/bin/env node
'use strict';
// Compiles every native source (syntax and types, no linking) against LibTorch 2.x headers, to keep the
// code on the API that 1.13 and 2.x share. The headers come from Debian trixie's libtorch-dev (2.6),
// unpacked into build/libtorch2-headers; nothing is installed. Debian/Ubuntu with apt-get only.
//   node scripts/check-libtorch2.js
const fs = require('fs');
const os = require('os');
const path = require('path');
const { sources } = require('./torch-config');
const { unpackPackages } = require('./debian-packages');
const { compileAll, report } = require('./compile-checks');

const root = path.resolve(__dirname, '..');
const work = path.join(root, 'build', 'libtorch2-headers');
const headers = path.join(work, 'root', 'usr', 'include');

function fetchHeaders() {
  if (['torch/csrc/api/include/torch/version.h', 'gloo/algorithm.h'].every((f) => fs.existsSync(path.join(headers, f)))) return;
  // gloo's headers too: c10d's ProcessGroupGloo.hpp includes them, and they must be the ones that LibTorch was built with.
  unpackPackages(work, 'deb http://deb.debian.org/debian trixie main', ['libtorch-dev', 'libgloo-dev']);
}

// c10d's Gloo headers are compiled only with the definitions LibTorch's torch_cpu target carries.
function checkArgs() {
  const napi = require('node-addon-api').include_dir;
  return ['-std=c++17', '-fsyntax-only', '-D_GLIBCXX_USE_CXX11_ABI=1', '-DUSE_DISTRIBUTED', '-DUSE_C10D_GLOO', '-DNAPI_VERSION=8', '-DNODE_ADDON_API_CPP_EXCEPTIONS',
    '-DNODE_ADDON_API_CPP_EXCEPTIONS_ALL', `-I${headers}`, `-I${headers}/torch/csrc/api/include`, '-Inative', `-I${napi}`,
    `-I${path.resolve(path.dirname(process.execPath), '..', 'include', 'node')}`];
}

(async () => {
  fetchHeaders();
  const version = fs.readFileSync(path.join(headers, 'torch', 'csrc', 'api', 'include', 'torch', 'version.h'), 'utf8').match(/TORCH_VERSION_MAJOR (\d+)[\s\S]*TORCH_VERSION_MINOR (\d+)/);
  console.log(`check-libtorch2: LibTorch ${version[1]}.${version[2]} headers`);
  const files = [...sources(), ...fs.readdirSync(path.join(root, 'native', 'test')).filter((f) => f.endsWith('.cpp')).map((f) => `native/test/${f}`)];
  const parallel = Math.max(1, os.availableParallelism?.() ?? os.cpus().length);
  const args = checkArgs();
  report(await compileAll(files.map((file) => ({ tool: 'g++', args, file })), parallel, root));
})().catch((err) => {
  console.error(`check-libtorch2: ${err.message}`);
  process.exitCode = 1;
});
