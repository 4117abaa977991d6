#!/usr/bin/env node
'use strict';
// Locates LibTorch, in one order for the builds (native/binding.gyp, the bootstrap, `invdiff rebuild`) and the loader:
// LIBTORCH, then Torch_DIR, then Debian's libtorch-dev, then (for loading only) Debian's runtime package.
// Plain Node with no dependencies: it runs before anything is installed or compiled, and ships in the package.
// Prints one field for gyp's <!@(...) expansion.
const fs = require('fs');
const path = require('path');

// Debian's multiarch library folder for this CPU.
const MULTIARCH = { x64: 'x86_64-linux-gnu', arm64: 'aarch64-linux-gnu' }[process.arch] ?? `${process.arch}-linux-gnu`;
const DEBIAN_LIB = `/usr/lib/${MULTIARCH}`;
// Set by tests (and by anyone reproducing a user's report) to act as if no LibTorch were installed.
const HIDE = 'INVDIFF_HIDE_LIBTORCH';

const exists = (p) => fs.existsSync(p);
const headersAt = (include) => exists(path.join(include, 'torch', 'csrc', 'api', 'include', 'torch', 'torch.h'));

// "1.13.0" from an official zip's build-version file, the headers, or a versioned file name (libc10.so.1.13.0).
function versionOf(prefix, libDir, include) {
  const stamp = path.join(prefix, 'build-version');
  if (exists(stamp)) return fs.readFileSync(stamp, 'utf8').trim().split('+')[0];
  const header = path.join(include, 'torch', 'csrc', 'api', 'include', 'torch', 'version.h');
  if (exists(header)) {
    const text = fs.readFileSync(header, 'utf8');
    const part = (p) => (text.match(new RegExp(`TORCH_VERSION_${p}\\s+(\\d+)`)) || [])[1];
    if (part('MAJOR')) return [part('MAJOR'), part('MINOR'), part('PATCH')].join('.');
  }
  const versioned = (exists(libDir) ? fs.readdirSync(libDir) : []).map((f) => f.match(/^libc10\.so\.(\d+\.\d+(?:\.\d+)?)$/)).find(Boolean);
  return versioned ? versioned[1] : undefined;
}

// LibTorch is built with the C++11 string ABI or the old one; an addon must match, and the mangled names say which.
function cxx11AbiOf(libDir) {
  const c10 = exists(libDir) && fs.readdirSync(libDir).find((f) => /^libc10\.so/.test(f));
  if (!c10) return undefined;
  return fs.readFileSync(path.join(libDir, c10)).includes('__cxx11');
}

/** Every libtorch*.so / libc10*.so file name in a folder (the sonames an addon may need). */
function librariesIn(libDir) {
  return exists(libDir) ? fs.readdirSync(libDir).filter((f) => /^(libtorch|libc10)\w*\.so(\.[\d.]+)?$/.test(f)).sort() : [];
}

function describe(source, prefix, libDir, include) {
  const libraries = librariesIn(libDir);
  const headers = headersAt(include);
  return {
    source,
    prefix,
    libDir,
    includeDirs: headers ? [include, path.join(include, 'torch', 'csrc', 'api', 'include')] : [],
    canBuild: headers,
    version: versionOf(prefix, libDir, include),
    cxx11Abi: cxx11AbiOf(libDir),
    cuda: libraries.some((f) => f.startsWith('libtorch_cuda') || f.startsWith('libc10_cuda')),
    libraries,
  };
}

/**
 * Every place LibTorch may be, in order, with what was found there or why it does not count:
 * { found: the first usable one (for builds: the first with headers) or null, tried: [{ source, where, problem? }] }.
 */
function locateLibTorch({ env = process.env, forBuild = false } = {}) {
  const tried = [];
  const consider = (source, where, make) => {
    const t = make();
    let problem;
    if (!t.libraries.some((f) => f.startsWith('libtorch_cpu'))) problem = `no libtorch_cpu.so in ${t.libDir}`;
    else if (forBuild && !t.canBuild) problem = `no headers (include/torch/csrc/api/include/torch/torch.h) under ${t.prefix}`;
    tried.push({ source, where, problem });
    return problem ? null : t;
  };
  if (env[HIDE]) return { found: null, tried: [{ source: HIDE, where: 'environment', problem: `${HIDE} is set: LibTorch is hidden` }] };
  // LIBTORCH or Torch_DIR, when set, is the user's choice: a wrong one is reported, not passed over.
  if (env.LIBTORCH) {
    const p = path.resolve(env.LIBTORCH);
    return { found: consider('LIBTORCH', p, () => describe('LIBTORCH', p, path.join(p, 'lib'), path.join(p, 'include'))), tried };
  }
  if (env.Torch_DIR) {
    const p = path.resolve(env.Torch_DIR, '..', '..', '..');
    return { found: consider('Torch_DIR', env.Torch_DIR, () => describe('Torch_DIR', p, path.join(p, 'lib'), path.join(p, 'include'))), tried };
  }
  let found = null;
  if (exists(path.join(DEBIAN_LIB, 'cmake', 'Torch', 'TorchConfig.cmake'))) found = consider('libtorch-dev', '/usr', () => describe('libtorch-dev', '/usr', DEBIAN_LIB, '/usr/include'));
  else tried.push({ source: 'libtorch-dev', where: '/usr', problem: 'not installed' });
  if (!found && !forBuild) {
    if (librariesIn(DEBIAN_LIB).some((f) => f.startsWith('libtorch_cpu'))) found = consider('libtorch runtime package', DEBIAN_LIB, () => describe('libtorch runtime package', '/usr', DEBIAN_LIB, '/usr/include'));
    else tried.push({ source: 'libtorch runtime package', where: DEBIAN_LIB, problem: 'no libtorch_cpu.so*' });
  }
  return { found, tried };
}

/** The LibTorch a build compiles against (headers required), or null. */
function findLibTorch(env = process.env) {
  return locateLibTorch({ env, forBuild: true }).found;
}

/** The native sources of those parts of native/sources.json (the addon's by default; 'cuda' for the kernels). */
function sources(parts = ['core', 'binding']) {
  const list = require('../native/sources.json');
  return parts.flatMap((part) => list[part]);
}

module.exports = { findLibTorch, locateLibTorch, sources, DEBIAN_LIB, MULTIARCH, HIDE };

if (require.main === module) {
  const what = process.argv[2];
  if (what === 'sources') { console.log(sources().join(' ')); process.exit(0); }
  const torch = findLibTorch();
  if (!torch) { console.error('invdiff: LibTorch not found (set LIBTORCH or install libtorch-dev)'); process.exit(1); }
  if (what === 'include') console.log(torch.includeDirs.join(' '));
  else if (what === 'libdir') console.log(torch.libDir);
  else console.log(JSON.stringify(torch, null, 2));
}
