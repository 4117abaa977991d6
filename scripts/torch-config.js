#!/usr/bin/env node
'use strict';
// Locates LibTorch for builds that do not go through CMake's find_package (binding.gyp, the bootstrap):
// LIBTORCH, then Torch_DIR, then Debian's libtorch-dev. Prints one field for gyp's <!@(...) expansion.
const fs = require('fs');
const path = require('path');

function fromPrefix(prefix, source) {
  const include = path.join(prefix, 'include');
  const lib = path.join(prefix, 'lib');
  if (!fs.existsSync(path.join(include, 'torch', 'csrc', 'api', 'include', 'torch', 'torch.h'))) return null;
  return { source, prefix, includeDirs: [include, path.join(include, 'torch', 'csrc', 'api', 'include')], libDir: lib };
}

function findLibTorch(env = process.env) {
  if (env.LIBTORCH) return fromPrefix(env.LIBTORCH, 'LIBTORCH');
  if (env.Torch_DIR) return fromPrefix(path.resolve(env.Torch_DIR, '..', '..', '..'), 'Torch_DIR');
  const debianLib = '/usr/lib/x86_64-linux-gnu';
  const include = '/usr/include';
  if (fs.existsSync(path.join(debianLib, 'cmake', 'Torch', 'TorchConfig.cmake')) &&
      fs.existsSync(path.join(include, 'torch', 'csrc', 'api', 'include', 'torch', 'torch.h'))) {
    return { source: 'libtorch-dev', prefix: '/usr', includeDirs: [include, path.join(include, 'torch', 'csrc', 'api', 'include')], libDir: debianLib };
  }
  return null;
}

function sources() {
  const list = require('../native/sources.json');
  return [...list.core, ...list.binding];
}

module.exports = { findLibTorch, sources };

if (require.main === module) {
  const what = process.argv[2];
  if (what === 'sources') { console.log(sources().join(' ')); process.exit(0); }
  const torch = findLibTorch();
  if (!torch) { console.error('invdiff: LibTorch not found (set LIBTORCH or install libtorch-dev)'); process.exit(1); }
  if (what === 'include') console.log(torch.includeDirs.join(' '));
  else if (what === 'libdir') console.log(torch.libDir);
  else console.log(JSON.stringify(torch, null, 2));
}
