'use strict';
// The core library links and works without Node: build the C++ test with CMake and run it.
const test = require('tape');
const { spawnSync } = require('child_process');
const path = require('path');

const root = path.resolve(__dirname, '..');

test('the C++ core tests build against LibTorch and pass', (t) => {
  const dir = path.join(root, 'build', 'native-tests');
  const env = { ...process.env, CCACHE_BASEDIR: root, CCACHE_NOHASHDIR: '1' };
  const configure = spawnSync('cmake', ['-S', root, '-B', dir, '-DINVDIFF_NATIVE_TESTS=ON', '-DCMAKE_BUILD_TYPE=Release'], { env, encoding: 'utf8' });
  t.equal(configure.status, 0, 'cmake configures without cmake-js');
  if (configure.status !== 0) console.log(configure.stdout, configure.stderr);
  const build = spawnSync('cmake', ['--build', dir, '--target', 'core_test', '--parallel', '2'], { env, encoding: 'utf8' });
  t.equal(build.status, 0, 'core_test builds, linking only invdiff_core and LibTorch');
  if (build.status !== 0) console.log(build.stdout.slice(-3000), build.stderr.slice(-3000));
  const run = spawnSync(path.join(dir, 'core_test'), { encoding: 'utf8' });
  t.equal(run.status, 0, 'core_test passes');
  t.match(run.stdout, /core_test \(LibTorch [\d.]+\): \d+ passed, 0 failed/, run.stdout.trim());
  t.end();
});
