// OpenBLAS picks its kernels from the CPU model when it loads, and a release older than the CPU falls back to
// its slowest: Debian 12's 0.3.21 takes a Sapphire Rapids Xeon for a Prescott (SSE3) and multiplies 1024²
// matrices at 23 GFLOP/s on a core instead of 129. So before the addon loads LibTorch (and OpenBLAS with it),
// the kernels are named from the CPU's own feature flags, unless the user named them (OPENBLAS_CORETYPE).
// Only Intel: OpenBLAS knows AMD's families by number, and these names are Intel's.
import * as fs from 'fs';

/** The OpenBLAS core type for an Intel CPU with these /proc/cpuinfo flags, or undefined (let OpenBLAS decide). */
export function openBlasCoreFor(vendor: string, flags: ReadonlySet<string>): string | undefined {
  if (vendor !== 'GenuineIntel') return undefined;
  const has = (...names: string[]) => names.every((n) => flags.has(n));
  if (has('avx512f', 'avx512bw', 'avx512vl', 'avx512dq', 'avx512_bf16')) return 'Cooperlake';
  if (has('avx512f', 'avx512bw', 'avx512vl', 'avx512dq')) return 'SkylakeX';
  if (has('avx2', 'fma')) return 'Haswell';
  return undefined;
}

export interface BlasCoreChoice {
  /** the core type OpenBLAS is asked for, if any */
  core?: string;
  /** who chose it: the user's OPENBLAS_CORETYPE, or invdiff from the CPU flags */
  by?: 'OPENBLAS_CORETYPE' | 'invdiff';
}

let choice: BlasCoreChoice | undefined;

/** Sets OPENBLAS_CORETYPE for this process and its children where the user has not; idempotent. */
export function chooseOpenBlasCore(): BlasCoreChoice {
  if (choice) return choice;
  const given = process.env.OPENBLAS_CORETYPE;
  if (given) return (choice = { core: given, by: 'OPENBLAS_CORETYPE' });
  let info = '';
  try {
    info = fs.readFileSync('/proc/cpuinfo', 'utf8');
  } catch {
    return (choice = {}); // not Linux
  }
  const vendor = info.match(/^vendor_id\s*:\s*(\S+)/m)?.[1] ?? '';
  const flags = new Set((info.match(/^flags\s*:(.*)$/m)?.[1] ?? '').trim().split(/\s+/));
  const core = openBlasCoreFor(vendor, flags);
  if (core) process.env.OPENBLAS_CORETYPE = core; // read by OpenBLAS's constructor when LibTorch loads it
  return (choice = core ? { core, by: 'invdiff' } : {});
}
