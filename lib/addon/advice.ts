// The commands that fix a failed load, chosen by what the diagnosis found: install the LibTorch the prebuild
// is for, or build the addon against the LibTorch there is.
import * as fs from 'fs';
import type { Candidate } from './candidates';
import type { LibTorch } from './scripts';

/** Lines that start 'To fix it:', for the LibTorch found (or none) and the candidates that were tried. */
export function adviceFor(t: LibTorch | null, tried: Candidate[]): string[] {
  const sudo = process.getuid?.() === 0 ? '' : 'sudo ';
  const debian = fs.existsSync('/etc/debian_version');
  const packages = [...new Set(tried.map((a) => a.kind === 'prebuild' && a.meta?.libtorch.debianPackage).filter((p): p is string => !!p))];
  const rebuild = 'npx invdiff rebuild';
  const lines = ['To fix it:'];
  if (!t) {
    if (debian && packages.length)
      lines.push(`  ${sudo}apt-get install ${packages[0]} libopenblas0-pthread    # Debian's LibTorch, which the shipped prebuild is built for`);
    lines.push(
      `  ${debian ? 'or, ' : ''}to build against your own LibTorch (CPU or CUDA, unpacked from pytorch.org; needs cmake and a C++17 compiler):`,
      `    LIBTORCH=/path/to/libtorch ${rebuild}`,
    );
    if (debian) lines.push(`  or against Debian's: ${sudo}apt-get install libtorch-dev libopenblas0-pthread cmake g++ make && ${rebuild}`);
    return lines;
  }
  const env = t.source === 'LIBTORCH' ? `LIBTORCH=${t.prefix} ` : t.source === 'Torch_DIR' ? `Torch_DIR=${process.env.Torch_DIR} ` : '';
  if (!t.canBuild) lines.push(`  ${sudo}apt-get install libtorch-dev cmake g++ make    # headers to build against the LibTorch installed`);
  lines.push(`  ${env}${rebuild}    # builds the addon against LibTorch ${t.version ?? ''} (${t.source}) into build/Release, where it is loaded from`);
  return lines;
}
