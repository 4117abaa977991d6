#!/usr/bin/env node
'use strict';
// Writes the model card of each shipped checkpoint into its safetensors metadata (node scripts/write-cards.js
// after npm run build). Only the metadata is rewritten: the script checks that the content hash of the tensors
// is the same before and after, so the models and every number measured with them stay as they were.
// Training facts come from the files' own 'invdiff.trained' metadata; the quality notes from the README's
// Benchmarks; the date is the card's if it has one, else that of the commit that last wrote the file.
const { execFileSync } = require('child_process');
const fs = require('fs');
const path = require('path');
const inv = require('..');

const NOTES = {
  'idm-cs10': 'Set11 (Y channel): 24.80 dB / 0.6778 SSIM; A⁺y 13.72 dB. 153k parameters.',
  'idm-cs30': 'Set11 (Y channel): 30.30 dB / 0.8495 SSIM; A⁺y 14.81 dB. 153k parameters.',
  'idm-cs50': 'Set11 (Y channel): 32.21 dB / 0.8753 SSIM; A⁺y 16.27 dB. 153k parameters.',
  'idm-prior-cs10': 'IDM.fromPrior of the shipped prior (2.93M parameters, stored as float16), fine-tuned 4000 steps. Set11 256² images (Y): 25.57 dB; DDNM-100 on the same prior 23.28 dB.',
  'idm-prior-cs30': 'idm-prior-cs10 fine-tuned 1000 + 1400 + 3000 steps more at 30%. Set11 (Y, all 11): 32.76 dB; DDNM-100 on the same prior 31.61 dB.',
  'idm-prior-cs50': 'idm-prior-cs10 fine-tuned 1000 + 1400 + 3000 + 6000 steps more at 50%. Set11 (Y, all 11): 37.79 dB; DDNM-100 on the same prior 36.50 dB.',
  'idm-prior-inpaint90': 'idm-prior-cs10 fine-tuned 1000 steps for 90% random-pixel inpainting. Set11 256² images (Y): 24.29 dB; A⁺y 13.97 dB.',
  unconditional: 'Grey (Y) prior for the zero-shot samplers, 3.0M parameters stored as float16. DDNM-100 on Set11 256² images: 23.28/32.64/37.64 dB at 10/30/50% block CS.',
};

const root = path.resolve(__dirname, '..');
for (const name of Object.keys(inv.models.SHIPPED)) {
  const file = path.join(root, 'models', `${name}.safetensors`);
  if (!fs.existsSync(file)) {
    console.log(`${name}: not shipped (${inv.models.SHIPPED[name]})`);
    continue;
  }
  const before = inv.safetensorsContentHash(file);
  const old = inv.models.describe(file);
  const trained = JSON.parse(inv.readSafetensorsMetadata(file)['invdiff.trained'] ?? '{}');
  let date = old.hasCard ? old.date : undefined;
  if (!date) {
    try {
      date = execFileSync('git', ['log', '-1', '--format=%cI', '--', file], { cwd: root, encoding: 'utf8' }).trim() || undefined;
    } catch {
      date = undefined; // not a git checkout: writeCard dates it now
    }
  }
  const data = trained.data === 'Train400' ? `Train400 (${trained.crop ?? 64}² Y-channel patches, batch ${trained.batch ?? 4})` : trained.data ?? 'unknown';
  inv.models.writeCard(file, { name, trainedFor: old.trainedFor, data, steps: trained.steps ?? 0, date, notes: NOTES[name] });
  const after = inv.safetensorsContentHash(file);
  if (after !== before) throw new Error(`write-cards: the tensors of '${file}' changed (${before} → ${after})`);
  console.log(inv.models.formatCard(inv.models.describe(file)));
}
