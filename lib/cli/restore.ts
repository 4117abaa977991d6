// invdiff restore: measures images with an operator, restores them with a model and writes PNGs.
import * as fs from 'fs';
import * as path from 'path';
import { writeImage } from '../io/image';
import { Progress } from '../io/progress';
import { psnrPerImage } from '../metrics/psnr';
import { writeGrid } from '../restoration/report';
import { restoreImages } from '../restoration/restore-images';
import { scope } from '../tensor';
import { Command, number, UsageError } from './args';
import { imageMode, inputs, loadModel, MODE_HELP, MODE_OPTIONS } from './files';
import { checkMethodFlags, METHOD_HELP, METHOD_OPTIONS, methodNames, restorer } from './method';
import { evaluationOperator, OPERATOR_HELP, OPERATOR_OPTIONS } from './operator';
import { QUIET_HELP, QUIET_OPTIONS, warn } from './output';

export const restore: Command = {
  summary: 'measure images with an operator and restore them with a model (IDM, or a sampler on a diffusion model); writes PNGs',
  usage: `invdiff restore --model FILE|NAME --input IMAGE|DIR --out DIR [options]
  --model            a model file, or a shipped model's name (invdiff models lists them)
  --seed N           operator and sampler seed (image i uses N + i)
  --compare          also write NAME.compare.png: ground truth (the input), A⁺y and the result side by side
${MODE_HELP}
${QUIET_HELP}
  without --operator the model's own operator is used (block CS 10% for an unconditional model)
${METHOD_HELP}
${OPERATOR_HELP}`,
  options: { ...OPERATOR_OPTIONS, ...METHOD_OPTIONS, ...MODE_OPTIONS, ...QUIET_OPTIONS, model: { type: 'string' }, input: { type: 'string' }, out: { type: 'string' }, seed: { type: 'string' }, compare: { type: 'boolean' } },
  async run(values) {
    if (!values.input) throw new UsageError('--input IMAGE|DIR is required');
    if (!values.out) throw new UsageError('--out DIR is required');
    const model = loadModel(values.model as string | undefined);
    const [name, ...more] = methodNames(model, values);
    if (more.length) throw new UsageError('restore runs one --method (eval compares several)');
    checkMethodFlags(model, [name], values);
    let current = { index: 0, file: '' };
    const method = restorer(model, name, values, ({ step, steps }) => progress.update(current.index + (step + 1) / steps, current.file));
    const operator = evaluationOperator(model, values);
    const seed = number(values, 'seed', 0, Number.isInteger, 'an integer');
    const quiet = Boolean(values.quiet);
    const images = await inputs(String(values.input), imageMode(values));
    fs.mkdirSync(String(values.out), { recursive: true });
    const progress = new Progress('restore', images.length, { quiet });
    for (const [i, { name: file, image }] of images.entries()) {
      current = { index: i, file };
      progress.update(i, file);
      const { restored, baseline, seconds } = restoreImages(method, image, operator, { seed: seed + i, onWarning: (m) => warn(m), silent: i > 0 });
      const stem = path.join(String(values.out), file.replace(/\.[^.]+$/, ''));
      await writeImage(`${stem}.restored.png`, restored);
      await writeImage(`${stem}.pinv.png`, baseline);
      if (values.compare) scope(() => writeGrid(`${stem}.compare.png`, [image, baseline, restored]));
      progress.finish();
      console.log(`${file}: ${method.label} PSNR ${psnrPerImage(restored, image)[0].toFixed(2)} dB (A⁺y ${psnrPerImage(baseline, image)[0].toFixed(2)} dB), ${seconds.toFixed(2)} s -> ${stem}.restored.png`);
      for (const t of [restored, baseline, image]) t.dispose();
    }
    progress.update(images.length);
    progress.finish();
    model.dispose();
    return 0;
  },
};
