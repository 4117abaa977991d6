// What commands print besides their results: --quiet, and warnings (on stderr, prefixed, never silenced by
// --quiet, which quiets only progress).
import type { Options } from './args';

export const QUIET_OPTIONS: Options = { quiet: { type: 'boolean', short: 'q' } };
export const QUIET_HELP = '  --quiet, -q        no progress bar or progress lines (results and warnings still print)';

export function warn(message: string): void {
  process.stderr.write(`invdiff: warning: ${message}\n`);
}
