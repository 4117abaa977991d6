// The plain-Node helpers in scripts/ that the builds and this loader share (they run before anything is
// compiled, and ship in the package), with their types: the LibTorch locator and the ELF version reader.
import * as path from 'path';

/** The package's own folder (dist/addon/ → ../..), where scripts/, prebuilds/ and build/ are. */
export const packageRoot = path.resolve(__dirname, '..', '..');

export interface LibTorch {
  source: string;
  prefix: string;
  libDir: string;
  includeDirs: string[];
  canBuild: boolean;
  version?: string;
  cxx11Abi?: boolean;
  cuda: boolean;
  libraries: string[];
}

export interface LibTorchSearch {
  found: LibTorch | null;
  tried: { source: string; where: string; problem?: string }[];
}

export interface ElfVersions {
  libraries: string[];
  glibc?: string;
  glibcxx?: string;
  cxxabi?: string;
}

const script = (name: string) => require(path.join(packageRoot, 'scripts', name));

const torchConfig: {
  locateLibTorch(options: { env?: NodeJS.ProcessEnv; forBuild?: boolean }): LibTorchSearch;
  DEBIAN_LIB: string;
  HIDE: string;
} = script('torch-config.js');
const elf: { compareVersions(a: string, b: string): number; elfVersions(bytes: Buffer): ElfVersions } = script('elf-versions.js');

/** The LibTorch the addon would run on (LIBTORCH, Torch_DIR, Debian's libtorch-dev or runtime package), and where else was looked. */
export const locateLibTorch = (env = process.env): LibTorchSearch => torchConfig.locateLibTorch({ env });
export const DEBIAN_LIB = torchConfig.DEBIAN_LIB;
/** The environment switch that hides LibTorch from the loader (for tests, and to reproduce a user's report). */
export const HIDE_LIBTORCH = torchConfig.HIDE;
export const compareVersions = elf.compareVersions;
export const elfVersions = elf.elfVersions;
