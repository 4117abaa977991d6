// Facts of the running system that decide whether a built addon can load here: the C library, the C++
// runtime's symbol versions, and the folders the dynamic linker searches.
import * as fs from 'fs';
import * as path from 'path';
import { DEBIAN_LIB, elfVersions } from './scripts';

export interface SystemFacts {
  platform: string;
  arch: string;
  /** glibc's version; undefined under musl or off Linux */
  glibc?: string;
  /** the newest GLIBCXX_ / CXXABI_ symbol versions of the libstdc++ this process has (or would load) */
  glibcxx?: string;
  cxxabi?: string;
  libstdcxx?: string;
  napi: number;
  /** the folders the dynamic linker searches: LD_LIBRARY_PATH, then the system's */
  searchPath: string[];
}

// The libstdc++ already mapped into this process (Node links it), else the one in the system folders.
function libstdcxxFile(searchPath: string[]): string | undefined {
  try {
    const mapped = fs.readFileSync('/proc/self/maps', 'utf8').match(/\s(\/\S*libstdc\+\+\.so[.\d]*)\n/);
    if (mapped) return mapped[1];
  } catch {
    // not Linux: no maps to read
  }
  return searchPath.map((d) => path.join(d, 'libstdc++.so.6')).find((f) => fs.existsSync(f));
}

let cached: SystemFacts | undefined;

export function systemFacts(): SystemFacts {
  if (cached) return cached;
  const searchPath = [
    ...(process.env.LD_LIBRARY_PATH ?? '').split(':').filter(Boolean),
    DEBIAN_LIB, `/lib/${path.basename(DEBIAN_LIB)}`, '/usr/lib64', '/lib64', '/usr/lib', '/lib',
  ];
  const libstdcxx = libstdcxxFile(searchPath);
  const cxx = libstdcxx ? elfVersions(fs.readFileSync(libstdcxx)) : undefined;
  const report = process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined;
  cached = {
    platform: process.platform,
    arch: process.arch,
    glibc: report?.header?.glibcVersionRuntime,
    glibcxx: cxx?.glibcxx,
    cxxabi: cxx?.cxxabi,
    libstdcxx,
    napi: Number(process.versions.napi),
    searchPath,
  };
  return cached;
}
