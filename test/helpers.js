'use strict';
// Shared test helpers: closeness of arrays with a message that shows the worst element.
function maxAbsDiff(a, b) {
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(Number(a[i]) - Number(b[i])));
  return worst;
}

function close(t, actual, expected, tol, msg) {
  const a = Array.from(actual);
  const e = Array.from(expected);
  if (a.length !== e.length) return t.fail(`${msg}: length ${a.length} vs ${e.length}`);
  const d = maxAbsDiff(a, e);
  t.ok(d <= tol, `${msg} (max |diff| ${d.toExponential(2)} <= ${tol})`);
}

module.exports = { close, maxAbsDiff };
