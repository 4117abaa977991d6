// The native binding, as lib/addon loads it. Where it cannot load, every function of it throws the loader's
// error instead: modules still import (so `invdiff doctor` and `rebuild` run), and the package root throws
// that error when it is required.
import * as os from 'os';
import { AddonError, loadAddon } from '../addon/load';
import type { NativeBinding } from '../generated/binding';

function stub(error: AddonError): NativeBinding {
  const fail = () => {
    throw error;
  };
  return new Proxy({}, { get: () => fail }) as NativeBinding;
}

const loaded = loadAddon<NativeBinding>();

/** The loader's error when the addon did not load, else undefined; and what it found and tried. */
export const addonError = loaded.error;
export const addonDiagnosis = loaded.diagnosis;

/** The raw binding: one function per row of the op schema (native/binding/ops.json). */
export const native = loaded.binding ?? stub(loaded.error!);

// LibTorch may start with one thread in an embedding process; default to the cores we may use.
if (loaded.binding) {
  const requested = Number(process.env.INVDIFF_NUM_THREADS);
  native.setNumThreads(Number.isInteger(requested) && requested > 0 ? requested : os.availableParallelism?.() ?? os.cpus().length);
}
