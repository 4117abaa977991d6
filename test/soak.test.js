'use strict';
// The leak soak with all its sampler NFEs and async calls but 300 of its 2,000 training steps (bench/soak/run.js
// runs them all): live tensors and native bytes return to their values after the warm-up and RSS stays within
// 10% of it.
const test = require('tape');
const { soak, summary } = require('../bench/soak/soak');

test('leak soak: training steps, sampler NFEs and dropped or late async calls leave nothing behind', async (t) => {
  const r = await soak({ steps: 300, nfes: 2000, calls: 2000 });
  t.equal(r.end.tensors, r.start.tensors, `live tensors back to ${r.start.tensors}`);
  t.equal(r.end.bytes, r.start.bytes, `native bytes back to ${r.start.bytes}`);
  t.ok(r.rssGrowth <= 0.1, `RSS within 10% after warm-up (${(100 * r.rssGrowth).toFixed(1)}%)`);
  console.log(`# summary soak: ${summary(r)}`);
});
