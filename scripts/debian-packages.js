'use strict';
// Debian packages unpacked into a folder of the build, never installed: apt-get with its own lists and cache
// (a suite the machine need not run), then dpkg -x. The compile checks (check-libtorch2, check-cuda) share it.
const { spawnSync } = require('child_process');
const fs = require('fs');
const path = require('path');

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', ...opts });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed:\n${r.stderr || r.stdout}`);
  return r.stdout;
}

/** Downloads `packages` from `sourcesLine` (e.g. 'deb http://deb.debian.org/debian trixie main') and unpacks them into work/root. */
function unpackPackages(work, sourcesLine, packages) {
  fs.mkdirSync(path.join(work, 'lists', 'partial'), { recursive: true });
  fs.mkdirSync(path.join(work, 'cache', 'archives', 'partial'), { recursive: true });
  fs.writeFileSync(path.join(work, 'sources.list'), `${sourcesLine}\n`);
  const o = [`-oDir::Etc::SourceList=${work}/sources.list`, '-oDir::Etc::SourceParts=/dev/null', `-oDir::State::Lists=${work}/lists`, `-oDir::Cache=${work}/cache`];
  run('apt-get', [...o, 'update', '-q']);
  const debs = path.join(work, 'debs');
  fs.rmSync(debs, { recursive: true, force: true });
  fs.mkdirSync(debs, { recursive: true });
  run('apt-get', [...o, 'download', ...packages], { cwd: debs });
  for (const deb of fs.readdirSync(debs).filter((f) => f.endsWith('.deb'))) run('dpkg', ['-x', path.join(debs, deb), path.join(work, 'root')]);
  fs.rmSync(debs, { recursive: true, force: true });
}

module.exports = { unpackPackages };
