'use strict';
// The user's path (issue 17): options that are checked with the nearest name suggested, flags that do not
// apply are errors, models that say what they are (cards, shipped names, one warning off their operator),
// CT's fast default A⁺, DPS defaults that beat A⁺y, sampler flags, progress on terminals and in logs.
const test = require('tape');
const { spawnSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');
const inv = require('..');

const root = path.resolve(__dirname, '..');
const bin = path.join(root, require('../package.json').bin.invdiff);
const cli = (...args) => spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8' });
const tmp = (name) => fs.mkdtempSync(path.join(os.tmpdir(), `${name}-`));

async function imageFolder(dir, count = 2, size = 32, channels = 1) {
  fs.mkdirSync(dir, { recursive: true });
  for (let i = 0; i < count; i++) {
    const grey = inv.deadLeaves({ count: 1, size, seed: 20 + i, minRadius: 3 });
    // A colour image: three different grey images as R, G and B.
    const image = channels === 3 ? inv.cat([grey, inv.deadLeaves({ count: 1, size, seed: 40 + i, minRadius: 3 }), grey.mul(-1)], { dim: 1 }) : grey;
    await inv.io.writeImage(path.join(dir, `im${i}.png`), image);
  }
  return dir;
}

test('unknown options in the API are errors that name the option and the nearest valid one', (t) => {
  const prior = inv.models.pretrained('unconditional');
  const A = inv.operators.create('inpainting', { imageShape: [1, 16, 16], seed: 1 });
  const y = A.forward(inv.deadLeaves({ count: 1, size: 16, seed: 1 }));
  t.throws(() => inv.samplers.ddnm(prior, { operator: A, y, stpes: 3 }), /ddnm: unknown option 'stpes' \(did you mean 'steps'\?\)/, "ddnm(prior, { stpes: 3 })");
  t.throws(() => inv.samplers.dps(prior, { operator: A, y, steps: 2, zeat: 1 }), /dps: unknown option 'zeat' \(did you mean 'zeta'\?\)/, 'a sampler\'s own option, mistyped');
  t.throws(() => inv.samplers.ddnm(prior, { operator: A, y, steps: 2, zeta: 1 }), /ddnm: unknown option 'zeta'/, "another sampler's option is unknown to ddnm");
  t.equal(inv.samplers.ddnm(prior, { operator: A, y, steps: 2, eta: 0.5, mixing: 'ddim' }).nfe, 2, 'its own options still work');
  t.throws(() => inv.operators.create('inpainting', { imageShape: [1, 8, 8], kep: 0.2 }), /operators\.create: inpainting: unknown option 'kep' \(did you mean 'keep'\?/, "{ kep: 0.2 }");
  t.throws(() => new inv.models.IDM({ stpes: 3 }), /unknown option 'stpes' \(did you mean 'steps'\?/, 'model options too');
  t.throws(() => inv.restorerFor(prior, { method: 'ddnm', zeta: 1 }), /restorerFor\(ddnm\): unknown option 'zeta'/, 'restorerFor checks the method\'s options');
  t.match(inv.restorerFor(prior, { method: 'dps', steps: 2, zeta: 1 }).label, /DPS, 2 steps/, "and passes the method's own");
  t.throws(() => inv.samplerRestorer('ddnm', prior, { steps: 2, etta: 0.3 }), /unknown option 'etta' \(did you mean 'eta'\?\)/, 'samplerRestorer checks at once, not at the first image');
  const idm = inv.models.pretrained('idm-cs10');
  t.throws(() => inv.restoreImages(idm, inv.zeros([1, 1, 32, 32]), { family: 'blockCS', ratio: 0.1 }, { sed: 1 }), /restoreImages: unknown option 'sed' \(did you mean 'seed'\?\)/, 'restoreImages');
  t.throws(() => inv.evaluate({ methods: [idm], operators: [{ family: 'blockCS', ratio: 0.1 }], images: inv.zeros([1, 1, 32, 32]), seeds: 1 }), /evaluate: unknown option 'seeds' \(did you mean 'seed'\?\)/, 'evaluate');
  t.throws(() => inv.models.pretrained('idm-cs1'), /'idm-cs1' is not a shipped model \(did you mean 'idm-cs10'\?\)/, 'shipped names too');
  idm.dispose();
  prior.dispose();
  t.end();
});

test('CLI: unknown flags, flags that do not apply and a missing checkpoint are usage errors (exit 2) that say why', async (t) => {
  const dir = tmp('userpath-cli');
  const images = await imageFolder(path.join(dir, 'images'));
  const out = path.join(dir, 'out');
  const cases = [
    [['restore', '--model', 'idm-cs10', '--input', images, '--out', out, '--ratoi', '0.5'], /unknown option --ratoi for invdiff restore \(did you mean --ratio\?\)/],
    [['restore', '--model', 'idm-cs10', '--input', images, '--out', out, '--ratio', '0.5'], /--ratio describes an operator: give --operator too \(without it the model's own operator \(blockCS 10%\) is used\)/],
    [['restore', '--model', 'idm-cs10', '--input', images, '--out', out, '--operator', 'inpainting', '--set', 'kep=0.2'], /--set: inpainting: unknown option 'kep' \(did you mean 'keep'\?/],
    [['restore', '--model', 'idm-cs10', '--input', images, '--out', out, '--steps', '4'], /--steps does not apply to an IDM model/],
    [['restore', '--model', 'unconditional', '--input', images, '--out', out, '--zeta', '4'], /--zeta applies to dps, not to ddnm/],
    [['restore', '--model', 'unconditional', '--input', images, '--out', out, '--mode', 'rbg'], /--mode must be one of auto, rgb, gray, y, got 'rbg' \(did you mean 'rgb'\?\)/],
    [['restore', '--model', 'idm-cs1', '--input', images, '--out', out], /--model 'idm-cs1' is neither a file nor a shipped model \(did you mean 'idm-cs10'\?\)/],
    [['eval', '--model', 'idm-cs10', '--data', path.join(dir, 'nowhere')], /--data '.*nowhere' does not exist/],
    [['train', 'idm', '--out', path.join(dir, 'm.safetensors'), '--resume', '--checkpoint', path.join(dir, 'nothere.safetensors')], /--resume: the checkpoint '.*nothere\.safetensors' does not exist/],
    [['train', 'idm', '--out', path.join(dir, 'm.safetensors'), '--resume'], /--resume needs --checkpoint FILE/],
    [['train', 'idm', '--out', path.join(dir, 'm.safetensors'), '--data', path.join(dir, 'nothere')], /--data '.*nothere' is not a folder of images/],
    [['train', 'unconditional', '--out', path.join(dir, 'm.safetensors'), '--ratio', '0.3'], /--ratio: an unconditional model learns the images alone/],
    [['info', 'idm-cs1'], /'idm-cs1' is neither a file nor a shipped model \(did you mean 'idm-cs10'\?\)/],
  ];
  for (const [args, message] of cases) {
    const r = cli(...args);
    t.equal(r.status, 2, `invdiff ${args.slice(0, 2).join(' ')} … ${args.slice(-2).join(' ')} exits 2`);
    t.match(r.stderr, message, r.stderr.trim());
    t.equal((r.stderr.replace(/\w'\w/g, '').match(/'/g) || []).length % 2, 0, 'with balanced quotes (apostrophes aside)');
  }
  t.notOk(fs.existsSync(out), 'no work was done for any of them');
  fs.rmSync(dir, { recursive: true });
  t.end();
});

test('model cards: written by training, shown by info and describe, checked against the tensors; shipped models have them and names', async (t) => {
  const dir = tmp('userpath-cards');
  const file = path.join(dir, 'idm.safetensors');
  const train = cli('train', 'idm', '--out', file, '--steps', '2', '--crop', '32', '--batch', '2', '--ratio', '0.25', '--quiet');
  t.equal(train.status, 0, 'a tiny training run');
  const card = inv.models.describe(file);
  t.deepEqual([card.kind, card.imageChannels, card.trainedFor, card.steps, card.data, card.invdiffVersion, card.hasCard, card.hashMatches],
    ['idm', 1, [{ family: 'blockCS', ratio: 0.25 }], 2, 'dead-leaves (generated)', require('../package.json').version, true, true], 'the card says what the model is and was trained for');
  t.ok(Math.abs(Date.parse(card.date) - Date.now()) < 600e3 && /^sha256:[0-9a-f]{64}$/.test(card.contentHash), `dated now, with a content hash (${card.contentHash.slice(0, 15)}…)`);
  t.equal(card.configuration.channels, 16, 'and its configuration');
  const info = cli('info', file);
  t.equal(info.status, 0, 'invdiff info FILE exits 0');
  t.match(info.stdout, /idm, 1 image channel\n  trained for: blockCS ratio 0\.25\n  data: dead-leaves \(generated\); 2 steps/, info.stdout.split('\n').slice(0, 3).join(' / '));
  // A changed weight no longer matches the card's hash.
  const model = inv.models.load(file);
  const metadata = inv.readSafetensorsMetadata(file);
  const tensors = Object.fromEntries(model.namedParameters().map(([n, p], i) => [n, i === 0 ? p.add(1) : p]));
  const tampered = path.join(dir, 'tampered.safetensors');
  inv.saveSafetensors(tampered, tensors, metadata);
  t.equal(inv.models.describe(tampered).hashMatches, false, 'a file whose tensors changed after its card does not match it');
  t.equal(cli('info', tampered).status, 1, 'and invdiff info says so with exit 1');
  model.dispose();
  // The shipped models: names, cards, and the same tensors as before they had cards.
  const listed = inv.models.list();
  t.deepEqual(listed.map((m) => m.name), ['idm-cs10', 'idm-cs30', 'idm-cs50', 'idm-prior-cs10', 'idm-prior-cs30', 'idm-prior-cs50', 'idm-prior-inpaint90', 'unconditional', 'invfussion-cpu32', 'palette-cpu32', 'unconditional-cpu32'], 'inv.models.list() names the shipped models');
  for (const m of listed.filter((l) => l.available)) t.ok(m.card.hasCard && m.card.hashMatches && m.card.name === m.name, `${m.name} has a card that matches its tensors`);
  t.deepEqual(listed.find((m) => m.name === 'idm-cs30').card.trainedFor, [{ family: 'blockCS', ratio: 0.3 }], 'idm-cs30 says it is for 30% block CS');
  const hashes = { 'idm-cs10': 'sha256:5f48d7b65782c384af662535e6261f03ae5e4cee46a33d7b1e926b453fe663be', unconditional: 'sha256:4b0ee251ca1aad596d9497b2c18958e58515816738be4dd5ea59fdf3d11a5c0d' };
  for (const [name, hash] of Object.entries(hashes)) t.equal(inv.safetensorsContentHash(path.join(root, 'models', `${name}.safetensors`)), hash, `${name}'s tensors are the ones trained before cards`);
  t.ok(inv.models.pretrained('palette') instanceof inv.models.Palette && inv.models.pretrained('invfussion') instanceof inv.models.InvFussion, "'palette' and 'invfussion' name the cpu32 files");
  const models = cli('models');
  t.equal(models.status, 0, 'invdiff models exits 0');
  t.match(models.stdout, /idm-cs10: idm, 1 image channel\n  trained for: blockCS ratio 0\.1[\s\S]*unconditional: unconditional[\s\S]*palette-cpu32: palette/, 'and lists them with their cards');
  t.ok(inv.models.pretrained('idm-cs50') instanceof inv.models.IDM, "inv.models.pretrained('idm-cs50') is an IDM");
  fs.rmSync(dir, { recursive: true });
  t.end();
});

test('a model run on an operator it was not trained for warns once (onWarning, silent); its own operator does not', async (t) => {
  const idm = inv.models.pretrained('idm-cs10');
  const images = inv.deadLeaves({ count: 2, size: 32, seed: 3 });
  const warnings = [];
  const onWarning = (m) => warnings.push(m);
  inv.restoreImages(idm, images, { family: 'blockCS', ratio: 0.1 }, { onWarning }).restored.dispose();
  t.deepEqual(warnings, [], 'no warning on its own operator');
  inv.restoreImages(idm, images, { family: 'blockCS', ratio: 0.5 }, { onWarning }).restored.dispose();
  t.equal(warnings.length, 1, 'one warning for two images at another ratio');
  t.match(warnings[0], /trained for blockCS ratio 0\.1, not for blockCS ratio 0\.5/, warnings[0]);
  inv.restoreImages(idm, images, { family: 'blockCS', ratio: 0.5 }, { onWarning, silent: true }).restored.dispose();
  t.equal(warnings.length, 1, 'silent: none');
  inv.evaluate({ methods: [idm], operators: [{ family: 'blockCS', ratio: 0.1 }, { family: 'inpainting' }], images, onWarning });
  t.equal(warnings.length, 2, 'evaluate: one per operator outside the training, not one per image');
  const prior = inv.models.pretrained('unconditional');
  inv.restoreImages(inv.samplerRestorer('ddnm', prior, { steps: 1 }), images, { family: 'mri' }, { onWarning }).restored.dispose();
  t.equal(warnings.length, 2, 'an unconditional prior suits any operator');
  const dir = tmp('userpath-warn');
  await imageFolder(path.join(dir, 'images'));
  const r = cli('restore', '--model', 'idm-cs10', '--input', path.join(dir, 'images'), '--out', path.join(dir, 'out'), '--operator', 'inpainting');
  t.equal(r.status, 0, 'the CLI restores anyway');
  t.equal((r.stderr.match(/warning: .*was trained for blockCS ratio 0\.1, not for inpainting/g) || []).length, 1, 'with one warning for two images');
  fs.rmSync(dir, { recursive: true });
  prior.dispose();
  idm.dispose();
  t.end();
});

test("CT's default A⁺ is filtered back-projection; CG on request", (t) => {
  const x = inv.sheppLogan(128).mul(2).sub(1);
  const A = inv.operators.create('ct', { imageShape: [1, 128, 128] });
  t.match(A.pinvMethod, /filtered back-projection/, A.pinvMethod);
  const started = Date.now();
  const fbp = A.pinv(A.forward(x));
  const seconds = (Date.now() - started) / 1000;
  t.ok(seconds < 5, `A⁺y at 128² in ${seconds.toFixed(2)} s`);
  t.ok(inv.metrics.psnr(fbp, x) > 15, `and it is an image of the phantom (${inv.metrics.psnr(fbp, x).toFixed(1)} dB)`);
  t.match(inv.operators.create('ct', { imageShape: [1, 16, 16], pinv: 'cg' }).pinvMethod, /conjugate gradients/, "pinv: 'cg' still gives CG");
  t.end();
});

test('DPS at its defaults and 100 steps beats A⁺y on inpainting and block CS (the shipped prior)', (t) => {
  const prior = inv.models.pretrained('unconditional');
  const images = inv.deadLeaves({ count: 1, size: 64, seed: 7, minRadius: 6 });
  // Measured on two such images at the defaults chosen (ζ = 5 on the squared residual): 22.98 vs 13.46 dB on
  // inpainting, 17.76 vs 10.86 at 10% block CS; the old default (ζ 0.5 in InvFussion's form) gave 12.83 and
  // 10.31, below A⁺y.
  for (const operator of [{ family: 'inpainting' }, { family: 'blockCS', ratio: 0.1 }]) {
    const r = inv.restoreImages(inv.restorerFor(prior, { method: 'dps' }), images, operator);
    const [dps, pinv] = [inv.metrics.psnr(r.restored, images), inv.metrics.psnr(r.baseline, images)];
    t.ok(dps > pinv + 4, `${operator.family}: DPS-100 ${dps.toFixed(2)} dB, A⁺y ${pinv.toFixed(2)} dB`);
  }
  prior.dispose();
  t.end();
});

test('sampler flags in the CLI: listed per method in --help, passed to the sampler', async (t) => {
  const help = cli('restore', '--help').stdout;
  t.match(help, /ddnm\s+--eta X[^\n]*\n\s+--mixing ddnm\|invfussion\|ddim/, 'ddnm lists --eta and --mixing');
  t.match(help, /dps\s+--zeta X[^\n]*\n\s+--dps-step/, 'dps lists --zeta and --dps-step');
  // A sampler's block: its line and the indented lines under it.
  const block = (sampler) => new RegExp(`\\n    ${sampler} +[^\\n]*(\\n {11}[^\\n]*)*`).exec(help)?.[0] ?? '';
  for (const [sampler, flag] of [['heun', '--churn'], ['pigdm', '--guidance'], ['ddrm', '--eta-b'], ['daps', '--langevin-steps']]) t.ok(block(sampler).includes(flag), `${sampler} lists ${flag}`);
  t.notOk(block('ddnm').includes('--zeta'), 'and only its own');
  const dir = tmp('userpath-flags');
  const images = await imageFolder(path.join(dir, 'images'), 1, 32);
  const psnrOf = (...flags) => {
    const r = cli('restore', '--model', 'unconditional', '--input', images, '--out', path.join(dir, 'out'), '--method', 'ddnm', '--steps', '3', ...flags);
    t.equal(r.status, 0, `ddnm ${flags.join(' ')} runs`);
    return Number(/PSNR ([\d.]+) dB/.exec(r.stdout)?.[1]);
  };
  const [deterministic, stochastic] = [psnrOf('--eta', '0'), psnrOf('--eta', '1')];
  t.notEqual(deterministic, stochastic, `--eta reaches the sampler (η 0: ${deterministic} dB, η 1: ${stochastic} dB)`);
  t.equal(psnrOf('--eta', '0'), deterministic, 'and the same flags give the same result');
  const bad = cli('restore', '--model', 'unconditional', '--input', images, '--out', path.join(dir, 'out'), '--eta', 'much');
  t.match(bad.stderr, /--eta must be a number, got 'much'/, bad.stderr.trim());
  fs.rmSync(dir, { recursive: true });
  t.end();
});

test('progress: a bar with an ETA on a terminal, whole lines when piped, nothing under --quiet', async (t) => {
  const { Progress, duration } = require('../dist/io/progress');
  const capture = (isTTY) => {
    const s = { isTTY, columns: 100, text: '', write: (x) => { s.text += x; } };
    return s;
  };
  const tty = capture(true);
  const p = new Progress('work', 4, { stream: tty });
  for (let i = 0; i <= 4; i++) p.update(i, `item ${i}`);
  p.finish();
  t.match(tty.text, /\r\[#{6}-{18}\] 25% work 1\/4 item 1 · [\d.]+s elapsed, ETA [\d.]+s/, 'a terminal gets a bar, the count and an ETA');
  t.equal(tty.text.split('\n').length, 2, 'redrawn in place, one line in all');
  const piped = capture(false);
  const q = new Progress('work', 4, { stream: piped, interval: 0 });
  for (let i = 0; i <= 4; i++) q.update(i);
  t.notOk(piped.text.includes('\r'), 'a pipe gets no carriage returns');
  t.equal(piped.text.trim().split('\n').length, 5, 'but one line per update');
  const quiet = capture(true);
  new Progress('work', 4, { stream: quiet, quiet: true }).update(2);
  t.equal(quiet.text, '', 'quiet prints nothing');
  t.deepEqual([duration(3.24), duration(75), duration(7300)], ['3.2s', '1m15s', '2h01m'], 'durations read as people write them');
  const dir = tmp('userpath-progress');
  const images = await imageFolder(path.join(dir, 'images'));
  const r = cli('restore', '--model', 'unconditional', '--input', images, '--out', path.join(dir, 'out'), '--steps', '2');
  t.match(r.stderr, /^0% restore 0\/2 im0\.png[^\r]*\n[\s\S]*100% restore 2\/2/, 'restore piped: progress lines on stderr');
  t.notOk(r.stderr.includes('\r'), 'without carriage returns');
  const quietRun = cli('restore', '--model', 'unconditional', '--input', images, '--out', path.join(dir, 'out'), '--steps', '2', '--quiet');
  t.equal(quietRun.stderr, '', '--quiet: nothing on stderr');
  t.match(quietRun.stdout, /im1\.png: DDNM, 2 steps PSNR/, 'the results still print');
  const train = cli('train', 'idm', '--out', path.join(dir, 'm.safetensors'), '--steps', '3', '--crop', '32', '--batch', '2');
  t.match(train.stderr, /100% training 3\/3 loss [\d.]+/, 'training piped: lines too');
  t.notOk(train.stderr.includes('\r'), 'without carriage returns');
  fs.rmSync(dir, { recursive: true });
  t.end();
});
