#!/usr/bin/env node
'use strict';
// Builds the native addon against the LibTorch that scripts/torch-config.js finds, with cmake-js, or node-gyp
// where there is no cmake, then writes invdiff.json beside it: what it was built against and what it needs
// at run time, which the loader (lib/addon) checks before loading it. Used by the bootstrap, scripts/prebuild
// and `invdiff rebuild`; plain Node, so it also runs from an installed package.
//   node scripts/build-addon.js [--tool cmake-js|node-gyp] [--prebuild] [--quiet]
const { spawnSync } = require('child_process');
const crypto = require('crypto');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { elfVersions } = require('./elf-versions');
const { findLibTorch } = require('./torch-config');

const root = path.resolve(__dirname, '..');
const has = (cmd) => spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;

// Node's own headers where the distribution installs them (Debian: /usr/include/node), so node-gyp needs no download.
function nodedir() {
  const prefix = path.resolve(path.dirname(process.execPath), '..');
  return fs.existsSync(path.join(prefix, 'include', 'node', 'node_api.h')) ? prefix : process.env.npm_config_nodedir;
}

// node-gyp from this package's dependencies, or the copy npm carries with it.
function nodeGyp() {
  const candidates = [path.join(path.dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js')];
  try {
    candidates.unshift(require.resolve('node-gyp/bin/node-gyp.js', { paths: [root] }));
  } catch { /* not installed beside us */ }
  return candidates.find((p) => fs.existsSync(p));
}

/** The commands of one build: [{ cmd, args }] and the file they make. */
function plan({ tool, prebuild }) {
  const jobs = String(Math.max(1, os.availableParallelism?.() ?? os.cpus().length));
  if (tool === 'cmake-js') {
    // At build/'s depth, so the relative source paths in the binary's assertion messages are the same as in any build.
    const out = path.join(root, prebuild ? 'build-prebuild' : 'build');
    const args = [require.resolve('cmake-js/bin/cmake-js', { paths: [root] }), 'compile', '--parallel', jobs, '--out', out];
    if (prebuild) args.push('--CDINVDIFF_PREBUILD=ON');
    return { steps: [{ cmd: process.execPath, args }], file: path.join(out, 'Release', 'invdiff.node') };
  }
  if (prebuild) throw new Error('a prebuild is made with cmake-js (it sets the $ORIGIN rpath)');
  const gyp = nodeGyp();
  if (!gyp) throw new Error('node-gyp was not found (npm install node-gyp)');
  const args = [gyp, 'rebuild', '--jobs', jobs];
  if (nodedir()) args.push(`--nodedir=${nodedir()}`);
  return { steps: [{ cmd: process.execPath, args }], file: path.join(root, 'build', 'Release', 'invdiff.node') };
}

// The Debian package that holds a library, so an error can name the exact apt-get install.
function debianPackageOf(file) {
  const r = spawnSync('dpkg-query', ['-S', file], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.split(':')[0].trim() : undefined;
}

/**
 * What the loader needs to know of a built addon: the LibTorch it was built against, the sonames and the
 * glibc / libstdc++ symbol versions it needs.
 */
function describeAddon(file, torch, { tool }) {
  const bytes = fs.readFileSync(file);
  const needs = elfVersions(bytes);
  const libraries = needs.libraries;
  const [major, minor] = (torch.version ?? '0.0').split('.');
  const cxx = spawnSync(process.env.CXX || 'c++', ['--version'], { encoding: 'utf8' });
  const cpu = libraries.find((l) => l.startsWith('libtorch_cpu'));
  return {
    name: `${process.platform}-${process.arch}-gnu-libtorch${major}.${minor}${torch.cuda ? '-cuda' : ''}`,
    platform: process.platform,
    arch: process.arch,
    libc: 'glibc',
    napi: require(path.join(root, 'package.json')).binary.napi_versions[0],
    libtorch: {
      version: torch.version,
      cxx11Abi: torch.cxx11Abi,
      cuda: torch.cuda,
      source: torch.source,
      debianPackage: torch.source.startsWith('libtorch') && cpu ? debianPackageOf(path.join(torch.libDir, cpu)) : undefined,
    },
    needs,
    sha256: crypto.createHash('sha256').update(bytes).digest('hex'),
    built: { tool, node: process.version, compiler: cxx.status === 0 ? cxx.stdout.split('\n')[0] : undefined },
  };
}

/** Builds the addon; returns { file, meta }. Throws an Error that says what is missing. */
function buildAddon({ tool = has('cmake') ? 'cmake-js' : 'node-gyp', prebuild = false, quiet = false } = {}) {
  const torch = findLibTorch();
  if (!torch) {
    throw new Error(
      'no LibTorch to build against (with headers). Install Debian\'s: apt-get install libtorch-dev libopenblas0-pthread,\n' +
        'or set LIBTORCH to an unpacked LibTorch (CPU or CUDA, from pytorch.org) or Torch_DIR to its share/cmake/Torch.',
    );
  }
  const missing = [tool === 'cmake-js' ? 'cmake' : 'make', 'c++'].filter((c) => !has(c));
  if (missing.length) throw new Error(`${missing.join(' and ')} not found: install them (Debian: apt-get install cmake g++ make)`);
  const { steps, file } = plan({ tool, prebuild });
  // ccache keys on paths relative to the package, so a build in another folder still hits the cache.
  const env = { ...process.env, CCACHE_BASEDIR: root, CCACHE_NOHASHDIR: '1' };
  if (tool === 'node-gyp' && has('ccache') && !env.CXX) env.CXX = 'ccache c++';
  // node-gyp reads binding.gyp from the package root, but a binding.gyp there makes npm run node-gyp by itself
  // on install (npm rebuild ignores "gypfile": false), so it lives in native/ and is put in place only to build.
  const gypFile = path.join(root, 'binding.gyp');
  if (tool === 'node-gyp') fs.copyFileSync(path.join(root, 'native', 'binding.gyp'), gypFile);
  try {
    for (const { cmd, args } of steps) {
      if (!quiet) console.log(`build-addon: $ ${path.basename(cmd)} ${args.map((a) => path.relative(root, a).startsWith('..') ? a : path.relative(root, a) || a).join(' ')}`);
      const r = spawnSync(cmd, args, { cwd: root, env, stdio: quiet ? ['ignore', 'pipe', 'pipe'] : 'inherit', encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`the ${tool} build failed (exit ${r.status ?? r.signal})${quiet ? `:\n${(r.stdout + r.stderr).slice(-3000)}` : ''}`);
    }
  } finally {
    if (tool === 'node-gyp') fs.rmSync(gypFile, { force: true });
  }
  const meta = describeAddon(file, torch, { tool });
  fs.writeFileSync(path.join(path.dirname(file), 'invdiff.json'), `${JSON.stringify(meta, null, 2)}\n`);
  return { file, meta };
}

module.exports = { buildAddon, describeAddon, nodedir };

if (require.main === module) {
  const argv = process.argv.slice(2);
  const tool = argv.includes('--tool') ? argv[argv.indexOf('--tool') + 1] : undefined;
  try {
    const { file, meta } = buildAddon({ tool, prebuild: argv.includes('--prebuild'), quiet: argv.includes('--quiet') });
    console.log(`build-addon: ${path.relative(process.cwd(), file)} (${meta.name}, LibTorch ${meta.libtorch.version} from ${meta.libtorch.source})`);
  } catch (err) {
    console.error(`build-addon: ${err.message}`);
    process.exit(1);
  }
}
