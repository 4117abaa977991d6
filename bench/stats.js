'use strict';
// Statistics the benchmarks share: means and per-image paired differences with their standard error.

function mean(values) {
  return values.reduce((s, v) => s + v, 0) / values.length;
}

// The mean of a[i] − b[i] and its standard error (NaN for fewer than two pairs).
function paired(a, b) {
  const d = a.map((v, i) => v - b[i]);
  const m = mean(d);
  const se = d.length > 1 ? Math.sqrt(d.reduce((s, v) => s + (v - m) ** 2, 0) / (d.length - 1) / d.length) : NaN;
  return { mean: m, se };
}

module.exports = { mean, paired };
