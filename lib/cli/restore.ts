// invdiff restore: measures images with an operator, restores them with a model and writes PNGs.
import * as fs from 'fs';
import * as path from 'path';
import { writeImage } from '../io/image';
import { psnrPerImage } from '../metrics/psnr';
import { restoreImages } from '../restoration/restore-images';
import { Command, number, UsageError } from './args';
import { inputs, loadModel } from './files';
import { METHOD_HELP, METHOD_OPTIONS, restorer } from './method';
import { evaluationOperator, OPERATOR_HELP, OPERATOR_OPTIONS } from './operator';

export const restore: Command = {
  summary: 'measure images with an operator and restore them with a model (IDM, or a sampler on a diffusion model); writes PNGs',
  usage: `invdiff restore --model FILE --input IMAGE|DIR --out DIR [options]
  --seed N           operator and sampler seed (image i uses N + i)
  the operator defaults to the one the model was trained for
${METHOD_HELP}
${OPERATOR_HELP}`,
  options: { ...OPERATOR_OPTIONS, ...METHOD_OPTIONS, operator: { type: 'string' }, model: { type: 'string' }, input: { type: 'string' }, out: { type: 'string' }, seed: { type: 'string' } },
  async run(values) {
    if (!values.input) throw new UsageError('--input IMAGE|DIR is required');
    if (!values.out) throw new UsageError('--out DIR is required');
    const model = loadModel(values.model as string | undefined);
    const method = restorer(model, values.method as string | undefined, values);
    const operator = evaluationOperator(model, values);
    const seed = number(values, 'seed', 0, Number.isInteger, 'an integer');
    fs.mkdirSync(String(values.out), { recursive: true });
    for (const [i, { name, image }] of (await inputs(String(values.input))).entries()) {
      const { restored, baseline, seconds } = restoreImages(method, image, operator, { seed: seed + i });
      const stem = path.join(String(values.out), name.replace(/\.[^.]+$/, ''));
      await writeImage(`${stem}.restored.png`, restored);
      await writeImage(`${stem}.pinv.png`, baseline);
      console.log(`${name}: ${method.label} PSNR ${psnrPerImage(restored, image)[0].toFixed(2)} dB (A⁺y ${psnrPerImage(baseline, image)[0].toFixed(2)} dB), ${seconds.toFixed(2)} s -> ${stem}.restored.png`);
      for (const t of [restored, baseline, image]) t.dispose();
    }
    return 0;
  },
};
