#!/usr/bin/env node
'use strict';
// Compiles the CUDA kernels (the 'cuda' list of native/sources.json) with nvcc for sm_80 and sm_90, and the
// C++ sources that call them with INVDIFF_CUDA_KERNELS set (syntax and types), against this machine's
// LibTorch headers and, where `npm run check:libtorch2` has fetched them, LibTorch 2.x's: a check that the
// CUDA code compiles on a machine with no GPU. nvcc 11.8 comes from Debian bookworm's non-free section and its
// host compiler g++-11 from main, both unpacked into build/cuda-toolchain (about 3 GB); nothing is installed,
// nothing is linked or run. Debian/Ubuntu with apt-get only.
//   node scripts/check-cuda.js
const fs = require('fs');
const path = require('path');
const { findLibTorch, sources } = require('./torch-config');
const { unpackPackages } = require('./debian-packages');
const { compileAll, report } = require('./compile-checks');

const root = path.resolve(__dirname, '..');
const work = path.join(root, 'build', 'cuda-toolchain');
const tree = path.join(work, 'root');
const nvcc = path.join(tree, 'usr', 'lib', 'nvidia-cuda-toolkit', 'bin', 'nvcc');
const hostCompiler = path.join(tree, 'usr', 'bin', 'g++-11');
const shim = path.join(work, 'shim');

function fetchToolchain() {
  if ([nvcc, hostCompiler, path.join(tree, 'usr', 'include', 'thrust', 'complex.h')].every((f) => fs.existsSync(f))) return;
  console.log('check-cuda: downloading nvcc 11.8 and g++-11 (about 900 MB) into build/cuda-toolchain');
  unpackPackages(work, 'deb http://deb.debian.org/debian bookworm main non-free',
    ['nvidia-cuda-toolkit', 'nvidia-cuda-dev', 'libnvvm4', 'g++-11', 'gcc-11', 'cpp-11', 'libstdc++-11-dev', 'libgcc-11-dev', 'gcc-11-base', 'libasan6', 'libtsan0',
      'libthrust-dev', 'libcub-dev', 'libcu++-dev']);  // thrust: c10/util/complex.h includes it under nvcc
  // Debian's nvcc reads its paths from /etc/nvcc.profile: point them into the unpacked tree instead.
  const profile = path.join(path.dirname(nvcc), 'nvcc.profile');
  fs.rmSync(profile, { force: true });
  fs.writeFileSync(profile, [
    `NVVMIR_LIBRARY_DIR = ${tree}/usr/lib/nvidia-cuda-toolkit/libdevice`,
    `PATH += ${tree}/usr/lib/nvidia-cuda-toolkit/bin:${tree}/usr/bin:`,
    `INCLUDES += "-I${tree}/usr/include" $(_SPACE_)`,
    `LIBRARIES =+ $(_SPACE_) -L${tree}/usr/lib/x86_64-linux-gnu`, ''].join('\n'));
}

// A CPU LibTorch's headers lack the one CMake generates for its CUDA build (what c10's CUDA macros include).
function writeShim() {
  const file = path.join(shim, 'c10', 'cuda', 'impl', 'cuda_cmake_macros.h');
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, '#pragma once\n#define C10_CUDA_BUILD_SHARED_LIBS\n');
}

(async () => {
  const cuda = sources(['cuda']);
  if (!cuda.length) throw new Error("native/sources.json lists no 'cuda' sources");
  fetchToolchain();
  writeShim();
  const torch = findLibTorch();
  const sets = [];
  if (torch) sets.push([`LibTorch ${torch.version ?? '(version unknown)'} (${torch.source})`, torch.includeDirs]);
  const two = path.join(root, 'build', 'libtorch2-headers', 'root', 'usr', 'include');
  if (fs.existsSync(path.join(two, 'torch', 'csrc', 'api', 'include', 'torch', 'version.h'))) sets.push(['LibTorch 2.x headers (check:libtorch2)', [two, `${two}/torch/csrc/api/include`]]);
  if (!sets.length) throw new Error('no LibTorch headers found (install libtorch-dev or set LIBTORCH)');
  // The C++ sources that include core/cuda headers: compiled as the CUDA build compiles them.
  const callers = sources(['core']).filter((f) => /INVDIFF_CUDA_KERNELS/.test(fs.readFileSync(path.join(root, f), 'utf8')));
  const env = { ...process.env, LD_LIBRARY_PATH: path.join(tree, 'usr', 'lib', 'x86_64-linux-gnu') };
  const jobs = [];
  for (const [label, includes] of sets) {
    // The default /usr/include stays where the compiler puts it (an -I of it breaks libstdc++'s #include_next).
    const inc = ['-Inative', `-I${shim}`, ...includes.filter((d) => d !== '/usr/include').flatMap((d) => ['-isystem', d]), '-D_GLIBCXX_USE_CXX11_ABI=1', '-DINVDIFF_CUDA=1', '-DINVDIFF_CUDA_KERNELS=1'];
    const device = ['-ccbin', hostCompiler, '-std=c++17', '--expt-relaxed-constexpr', '-D__CUDA_NO_HALF_OPERATORS__', '-D__CUDA_NO_HALF_CONVERSIONS__',
      '-D__CUDA_NO_BFLOAT16_CONVERSIONS__', '-D__CUDA_NO_HALF2_OPERATORS__', '-gencode', 'arch=compute_80,code=sm_80', '-gencode', 'arch=compute_90,code=sm_90',
      '--resource-usage', '-c', '-o', '/dev/null', ...inc];
    jobs.push(...cuda.map((file) => ({ tool: nvcc, args: device, file, label, env })),
      ...callers.map((file) => ({ tool: 'g++', args: ['-std=c++17', '-fsyntax-only', '-DUSE_DISTRIBUTED', '-DUSE_C10D_GLOO', ...inc], file, label })));
  }
  // Two at a time: a LibTorch translation unit is slow and large.
  report(await compileAll(jobs, 2, root), (r) =>
    r.file.endsWith('.cu') ? `  (register spills: ${[...r.err.matchAll(/(\d+) bytes spill stores/g)].reduce((n, m) => n + Number(m[1]), 0)} bytes)` : '');
})().catch((err) => {
  console.error(`check-cuda: ${err.message}`);
  process.exitCode = 1;
});
