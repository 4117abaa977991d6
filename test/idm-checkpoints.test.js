'use strict';
// The shipped IDM checkpoints fine-tuned from the prior (scripts/train-idm.js; in a clone, not in the npm
// package): IDM.pretrained finds them by task and variant, their cards say what they were trained for, and
// on held-out CBSD68 crops (never used in training, validation or the README's Set11 table) each beats A⁺y
// by a wide margin and comes within half a dB of the small network trained from scratch where there is one
// (measured: 0.16–0.18 dB below it at 10% and 30%, 0.7 dB above at 50%; README "IDM").
const test = require('tape');
const fs = require('fs');
const path = require('path');
const inv = require('..');

const cbsd = path.resolve(__dirname, '..', '..', 'shared', 'data', 'CBSD68');
const TASKS = [
  [10, { family: 'blockCS', ratio: 0.1 }],
  [30, { family: 'blockCS', ratio: 0.3 }],
  [50, { family: 'blockCS', ratio: 0.5 }],
  ['inpaint90', { family: 'inpainting', keep: 0.1 }],
];
const shippedName = (task) => `idm-prior-${typeof task === 'number' ? `cs${task}` : task}`;
const present = TASKS.filter(([task]) => fs.existsSync(path.join(__dirname, '..', 'models', `${shippedName(task)}.safetensors`)));
// On the held-out crops each fine-tuned checkpoint beats A⁺y by this much, and trails the small one by less
// than SMALL_GAP.
const MARGIN_OVER_PINV = 5;
const SMALL_GAP = 0.5;
const count = (model) => model.parameters().reduce((n, p) => n + p.numel, 0);

test('IDM.pretrained: the fine-tuned checkpoint where present, the small one on request or in the package', (t) => {
  const small = inv.models.IDM.pretrained(10, { variant: 'small' });
  t.ok(count(small) < 2e5, `variant 'small' is the 153k-parameter network (${count(small)})`);
  small.dispose();
  if (!present.length) {
    t.comment('no idm-prior-* checkpoints in models/ (an installed package)');
    t.ok(count(inv.models.IDM.pretrained(10)) < 2e5, 'IDM.pretrained(10) falls back to the small network');
    t.throws(() => inv.models.IDM.pretrained(10, { variant: 'prior' }), /'idm-prior-cs10' is not available in this installation/, 'variant prior says it is missing');
    return t.end();
  }
  for (const [task, operator] of present) {
    t.ok(count(inv.models.IDM.pretrained(task)) > 2e6, `IDM.pretrained(${JSON.stringify(task)}) defaults to the fine-tuned network`);
    const model = inv.models.IDM.pretrained(task, { variant: 'prior' });
    const card = inv.models.describe(path.join(__dirname, '..', 'models', `${shippedName(task)}.safetensors`));
    t.ok(count(model) > 2e6, `IDM.pretrained(${JSON.stringify(task)}, { variant: 'prior' }) is the fine-tuned network (${(count(model) / 1e6).toFixed(2)}M parameters)`);
    t.deepEqual(card.trainedFor, [operator], `${shippedName(task)}'s card says it is for ${JSON.stringify(operator)}`);
    t.ok(card.steps > 0 && /^Train400/.test(card.data), `trained ${card.steps} steps on ${card.data}`);
    model.dispose();
  }
  t.end();
});

test('fine-tuned IDM checkpoints on held-out CBSD68 crops', { skip: !present.length || !fs.existsSync(cbsd) }, async (t) => {
  const files = (await inv.io.readImageFolder(cbsd, { mode: 'y' })).slice(20, 26);
  const images = inv.keep(inv.cat(files.map(({ image }) => image.narrow(2, 40, 128).narrow(3, 40, 128)), { dim: 0 }));
  for (const [task, operator] of present)
    inv.scope(() => {
      const psnr = (model) => {
        const r = inv.restoreImages(model, images, operator, { seed: 7 });
        return { idm: inv.metrics.psnr(r.restored, images), baseline: inv.metrics.psnr(r.baseline, images) };
      };
      const tuned = psnr(inv.models.IDM.pretrained(task, { variant: 'prior' }));
      t.ok(tuned.idm > tuned.baseline + MARGIN_OVER_PINV, `${shippedName(task)}: ${tuned.idm.toFixed(2)} dB, A⁺y ${tuned.baseline.toFixed(2)} dB`);
      if (typeof task === 'number') {
        const small = psnr(inv.models.IDM.pretrained(task, { variant: 'small' }));
        t.ok(tuned.idm > small.idm - SMALL_GAP, `within ${SMALL_GAP} dB of the small network at ${task}% (${small.idm.toFixed(2)} dB)`);
      }
    });
  images.dispose();
  t.end();
});
