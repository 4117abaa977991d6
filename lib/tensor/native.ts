// Loads the native addon, with a message that says what to do when it is missing.
import * as path from 'path';
import type { NativeBinding } from '../generated/binding';

function load(): NativeBinding {
  const root = path.resolve(__dirname, '..', '..');
  try {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    return require('bindings')({ bindings: 'invdiff.node', module_root: root });
  } catch (err) {
    const reason = (err as Error).message.split('\n')[0];
    throw new Error(
      `invdiff: the native addon could not be loaded (${reason}).\n` +
        'Build it with `npm run bootstrap` (it installs LibTorch on Debian/Ubuntu when run as root), or install\n' +
        'LibTorch yourself (Debian: apt-get install libtorch-dev libopenblas0-pthread; elsewhere set LIBTORCH to an\n' +
        'unpacked LibTorch) and run `npm run build`.',
    );
  }
}

/** The raw binding: one function per row of the op schema (native/binding/ops.json). */
export const native = load();
