'use strict';
// The shipped cpu32 checkpoints (scripts/train-invfussion.js): they load as their classes, and the trained
// one-step MMSE of InvFussion and Palette beats A⁺y on held-out CBSD68 crops (never seen in training) for
// patch inpainting. Other families are reported, not asserted: the runs so far are short (README).
const test = require('tape');
const fs = require('fs');
const path = require('path');
const inv = require('..');

const cbsd = path.resolve(__dirname, '..', '..', 'shared', 'data', 'CBSD68');

test('shipped cpu32 checkpoints: classes, trained facts, MMSE above A⁺y on held-out inpainting', async (t) => {
  const models = [
    ['InvFussion', inv.models.InvFussion.pretrained()],
    ['Palette', inv.models.Palette.pretrained()],
    ['Unconditional', inv.models.Unconditional.pretrained('cpu32')],
  ];
  for (const [name, model] of models) {
    t.ok(model instanceof inv.models[name], `${name}.pretrained() gives a ${name}`);
    t.equal(model.sizeMultiple, 4, `${name}: the cpu32 HDiT (multiples of 4)`);
    const trained = JSON.parse(model.metadata['invdiff.trained']);
    t.ok(trained.steps > 0 && trained.data === 'Train400', `${name}: trained ${trained.steps} steps on ${trained.data}`);
  }
  if (!fs.existsSync(cbsd)) {
    t.comment(`skipped the quality checks: '${cbsd}' is missing`);
    return t.end();
  }
  const files = (await inv.io.readImageFolder(cbsd, { mode: 'y' })).slice(0, 8);
  const images = inv.cat(files.map(({ image }) => image.narrow(2, 100, 32).narrow(3, 100, 32)), { dim: 0 });
  const families = [
    ['inpainting', { family: 'inpainting', patchSize: 4, keep: 0.2 }, true],
    ['motion blur', { family: 'stridedBlur', stride: 4 }, false],
    ['matrix', { family: 'matrix', minRows: 2, maxRows: 128 }, false],
  ];
  const scores = {};
  for (const [name, model] of models.slice(0, 2))
    for (const [label, spec, asserted] of families)
      inv.scope(() => {
        const r = inv.restoreImages(inv.mmseRestorer(model), images, spec, { seed: 1000 });
        const mmse = inv.metrics.psnr(r.restored, images), baseline = inv.metrics.psnr(r.baseline, images);
        scores[`${name} ${label}`] = mmse;
        const line = `${name} MMSE on ${label}: ${mmse.toFixed(2)} dB, A⁺y ${baseline.toFixed(2)} dB`;
        if (asserted) t.ok(mmse > baseline + 1, line);
        else t.comment(line);
      });
  // The paper's first claim at the same budget and data (papers.md §2): the operator-aware MMSE beats Palette's.
  for (const [label] of families)
    t.ok(scores[`InvFussion ${label}`] > scores[`Palette ${label}`] + 1,
      `InvFussion's MMSE beats Palette's on ${label} by over 1 dB (${scores[`InvFussion ${label}`].toFixed(2)} vs ${scores[`Palette ${label}`].toFixed(2)})`);
  t.end();
});
