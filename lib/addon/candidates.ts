// The addon files the loader may use, in order, and the checks each must pass before it is loaded: a local
// build (build/Release, from the bootstrap or `invdiff rebuild`), then the prebuilds shipped in the package.
import * as fs from 'fs';
import * as path from 'path';
import { compareVersions, ElfVersions, LibTorchSearch, packageRoot } from './scripts';
import type { SystemFacts } from './system';

/** invdiff.json beside a built addon (scripts/build-addon.js writes it). */
export interface AddonMeta {
  name: string;
  platform: string;
  arch: string;
  libc: string;
  napi: number;
  libtorch: { version?: string; cxx11Abi?: boolean; cuda: boolean; source: string; debianPackage?: string };
  needs: ElfVersions;
  sha256: string;
}

export interface Candidate {
  kind: 'local build' | 'prebuild';
  file: string;
  meta?: AddonMeta;
}

function readMeta(file: string): AddonMeta | undefined {
  const metaFile = path.join(path.dirname(file), 'invdiff.json');
  return fs.existsSync(metaFile) ? JSON.parse(fs.readFileSync(metaFile, 'utf8')) : undefined;
}

export function candidates(root = packageRoot): Candidate[] {
  const local = path.join(root, 'build', 'Release', 'invdiff.node');
  const prebuilds = path.join(root, 'prebuilds');
  const shipped = fs.existsSync(prebuilds) ? fs.readdirSync(prebuilds).sort().map((d) => path.join(prebuilds, d, 'invdiff.node')) : [];
  return [{ kind: 'local build' as const, file: local }, ...shipped.map((file) => ({ kind: 'prebuild' as const, file }))].map((c) => ({
    ...c,
    meta: fs.existsSync(c.file) ? readMeta(c.file) : undefined,
  }));
}

const majorMinor = (v?: string) => (v ?? '?').split('.').slice(0, 2).join('.');
const older = (have: string | undefined, need: string | undefined) => need !== undefined && (have === undefined || compareVersions(have, need) < 0);

/** Why a candidate cannot load here, or undefined when it may (then only loading it can tell). */
export function problemOf(c: Candidate, torch: LibTorchSearch, sys: SystemFacts): string | undefined {
  if (!fs.existsSync(c.file)) return c.kind === 'local build' ? 'not built' : 'missing';
  const t = torch.found;
  // Nothing is loaded without a LibTorch found: loading would fail in the dynamic linker instead, less clearly.
  if (!t) return `needs LibTorch${c.meta ? ` ${majorMinor(c.meta.libtorch.version)} (${c.meta.needs.libraries.join(', ')})` : ''}, and none was found`;
  const m = c.meta;
  if (!m) return undefined;
  if (m.platform !== sys.platform || m.arch !== sys.arch) return `built for ${m.platform}-${m.arch}, not ${sys.platform}-${sys.arch}`;
  if (m.napi > sys.napi) return `needs Node-API ${m.napi}; Node ${process.version} has ${sys.napi}`;
  if (m.libc === 'glibc' && !sys.glibc) return 'needs glibc, which this system does not have (musl?)';
  if (older(sys.glibc, m.needs.glibc)) return `needs glibc ${m.needs.glibc} or newer; this system has glibc ${sys.glibc}`;
  for (const [what, have, need] of [['GLIBCXX', sys.glibcxx, m.needs.glibcxx], ['CXXABI', sys.cxxabi, m.needs.cxxabi]] as const)
    if (older(have, need)) return `needs a libstdc++ with ${what}_${need}; ${sys.libstdcxx ?? 'this system\'s libstdc++'} has up to ${what}_${have ?? 'none'} (too old)`;
  const found = `the LibTorch found (${t.source}, ${t.libDir})`;
  if (majorMinor(m.libtorch.version) !== majorMinor(t.version)) return `built for LibTorch ${majorMinor(m.libtorch.version)}; ${found} is ${t.version ?? 'of unknown version'}`;
  if (m.libtorch.cxx11Abi !== undefined && t.cxx11Abi !== undefined && m.libtorch.cxx11Abi !== t.cxx11Abi)
    return `built for LibTorch's ${m.libtorch.cxx11Abi ? 'C++11' : 'pre-C++11'} ABI; ${found} has the ${t.cxx11Abi ? 'C++11' : 'pre-C++11'} ABI`;
  const missing = m.needs.libraries.filter((l) => !t.libraries.includes(l));
  if (missing.length) return `needs ${missing.join(', ')}, which ${t.libDir} does not have`;
  // A prebuild's only rpath is $ORIGIN: its LibTorch must be where the dynamic linker looks.
  if (c.kind === 'prebuild' && !sys.searchPath.includes(t.libDir))
    return `the dynamic linker does not search ${t.libDir} (not a system folder, not in LD_LIBRARY_PATH)`;
  return undefined;
}
