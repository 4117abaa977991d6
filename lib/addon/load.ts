// Loads the native addon: the first candidate (candidates.ts) that passes its checks and then loads, or one
// error, in sharp's manner, that lists what was tried, why each failed and the commands that fix it.
import * as path from 'path';
import { adviceFor } from './advice';
import { chooseOpenBlasCore } from './blas-core';
import { Candidate, candidates, problemOf } from './candidates';
import { LibTorchSearch, locateLibTorch, packageRoot } from './scripts';
import { SystemFacts, systemFacts } from './system';

export interface Attempt extends Candidate {
  /** why it was not used; undefined for the one that loaded */
  problem?: string;
}

export interface Diagnosis {
  libtorch: LibTorchSearch;
  system: SystemFacts;
  attempts: Attempt[];
  /** the attempt that loaded, if one did */
  loaded?: Attempt;
}

// The dynamic linker's message, in the terms of the fix: a missing library, an old C or C++ runtime, a mismatch.
function whyNotLoaded(err: Error): string {
  const text = err.message;
  const lib = text.match(/(\S+\.so[.\d]*): cannot open shared object file/);
  if (lib) return `the dynamic linker did not find ${lib[1]}`;
  const version = text.match(/version `((GLIBC|GLIBCXX|CXXABI)_[\d.]+)' not found/);
  if (version) return `this system's ${version[2] === 'GLIBC' ? 'glibc' : 'libstdc++'} is too old (${version[1]} not found)`;
  const symbol = text.match(/undefined symbol: (\S+)/);
  if (symbol) return `the LibTorch it found does not match the one it was built against (undefined symbol ${symbol[1]}): a version or ABI mismatch`;
  return text.split('\n')[0];
}

export class AddonError extends Error {
  declare readonly diagnosis: Diagnosis;
  constructor(diagnosis: Diagnosis) {
    super(describeFailure(diagnosis));
    this.name = 'AddonError';
    // Not enumerable, so an uncaught one prints its message, not the whole diagnosis.
    Object.defineProperty(this, 'diagnosis', { value: diagnosis });
  }
}

const shown = (file: string) => path.relative(packageRoot, file);

/** What was found and tried, as lines: the body of the error and of `invdiff doctor`. */
export function describeAttempts(d: Diagnosis): string[] {
  const t = d.libtorch.found;
  const search = d.libtorch.tried.map((x) => `${x.source} (${x.where})${x.problem ? `: ${x.problem}` : ''}`).join('; ');
  return [
    t ? `LibTorch ${t.version ?? '(version unknown)'} from ${t.source} in ${t.libDir}${t.cuda ? ', with CUDA' : ''}` : `LibTorch: not found (looked at ${search})`,
    `Tried, in ${packageRoot}:`,
    ...d.attempts.map((a) => `  ${shown(a.file)} (${a.kind}${a.meta ? `, ${a.meta.name}` : ''}): ${a.problem ?? 'loaded'}`),
  ];
}

function describeFailure(d: Diagnosis): string {
  return ['invdiff: the native addon could not be loaded.', ...describeAttempts(d), ...adviceFor(d.libtorch.found, d.attempts), 'npx invdiff doctor prints this diagnosis.'].join('\n');
}

/** Checks every candidate and loads the first that passes: the binding, or an AddonError; and the diagnosis. */
export function loadAddon<T>(): { binding?: T; error?: AddonError; diagnosis: Diagnosis } {
  const diagnosis: Diagnosis = { libtorch: locateLibTorch(), system: systemFacts(), attempts: [] };
  chooseOpenBlasCore(); // before the first dlopen of LibTorch
  for (const c of candidates()) {
    const attempt: Attempt = { ...c, problem: problemOf(c, diagnosis.libtorch, diagnosis.system) };
    diagnosis.attempts.push(attempt);
    if (attempt.problem || diagnosis.loaded) {
      if (!attempt.problem) attempt.problem = `not needed (${shown(diagnosis.loaded!.file)} loaded first)`;
      continue;
    }
    try {
      // eslint-disable-next-line @typescript-eslint/no-var-requires
      const binding = require(c.file) as T;
      diagnosis.loaded = attempt;
      return { binding, diagnosis };
    } catch (err) {
      attempt.problem = whyNotLoaded(err as Error);
    }
  }
  return { error: new AddonError(diagnosis), diagnosis };
}
