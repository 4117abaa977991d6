// "Did you mean …?": the nearest valid name to a mistyped option, flag or model name.

// Edit distance with adjacent transpositions (optimal string alignment), so 'stpes' is one edit from 'steps'.
function distance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++)
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  return d[a.length][b.length];
}

/** The candidate closest to `word` (case-insensitive), if it is close enough to be a likely typo. */
export function nearest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const c of candidates) {
    const dist = distance(word.toLowerCase(), c.toLowerCase());
    if (dist < bestDistance) [best, bestDistance] = [c, dist];
  }
  // A third of the word's length (at least 2) separates a typo from a different name.
  return bestDistance <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined;
}

/** ` (did you mean 'keep'?)` when a candidate is near, else ''; `quote` wraps the name (e.g. as --flag). */
export function didYouMean(word: string, candidates: readonly string[], quote = (s: string) => `'${s}'`): string {
  const near = nearest(word, candidates);
  return near === undefined ? '' : ` (did you mean ${quote(near)}?)`;
}

/** A native "unknown option 'x' (it takes a, b, …)" error with the nearest option named; other errors unchanged. */
export function withSuggestion<E>(err: E): E {
  if (!(err instanceof Error)) return err;
  const m = /unknown option '([^']+)' \(it takes ([^)]*)\)/.exec(err.message);
  if (!m) return err;
  const near = nearest(m[1], m[2].split(', '));
  if (near !== undefined) err.message = err.message.replace(m[0], `unknown option '${m[1]}' (did you mean '${near}'? it takes ${m[2]})`);
  return err;
}
