#!/usr/bin/env node
'use strict';
// The full leak soak of issue 20: 2,000 training steps, 2,000 sampler NFEs, 2,000 async calls.
//   node --expose-gc bench/soak/run.js [steps nfes calls]
const { soak, summary } = require('./soak');

(async () => {
  const [steps = 2000, nfes = 2000, calls = 2000] = process.argv.slice(2).map(Number);
  const started = Date.now();
  const r = await soak({ steps, nfes, calls });
  console.log(`soak: ${summary(r)}; ${((Date.now() - started) / 1000).toFixed(0)} s`);
  const ok = r.end.tensors === r.start.tensors && r.end.bytes === r.start.bytes && r.rssGrowth <= 0.1;
  console.log(ok ? 'soak: holds (tensors and bytes back to their start, RSS within 10%)' : 'soak: FAILS');
  process.exitCode = ok ? 0 : 1;
})();
