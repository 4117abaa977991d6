// invdiff eval: a PSNR/SSIM table over a test set for one or more models and methods (Markdown and JSON).
import * as fs from 'fs';
import * as path from 'path';
import { IDM } from '../models/idm';
import { evaluate, EvaluationOptions, EvaluationRow } from '../restoration/evaluate';
import { Column, describeOperator, markdownTable, SCORE_COLUMNS } from '../restoration/report';
import { Command, number, UsageError } from './args';
import { inputs, loadModel } from './files';
import { METHOD_HELP, METHOD_OPTIONS, restorer } from './method';
import { evaluationOperator, OPERATOR_HELP, OPERATOR_OPTIONS, operatorSpecs } from './operator';
import { keep } from '../tensor';

type Row = EvaluationRow & { model: string };
const COLUMNS: Column<Row>[] = [{ header: 'model', cell: (r) => r.model }, { header: 'operator', cell: (r) => describeOperator(r.operator) }, ...SCORE_COLUMNS];

export const evalCommand: Command = {
  summary: 'a PSNR/SSIM table over a test set for one or more models and methods, as Markdown and JSON',
  usage: `invdiff eval --model FILE[,FILE...] --data DIR [--method NAME[,NAME...]] [--json FILE] [--markdown FILE] [options]
  each model is evaluated with the operator it was trained for unless --operator is given (block CS 10% for an
  unconditional model); --operator a,b and --ratio r1,r2 (block CS) evaluate every combination;
  --method lists the methods to run on each diffusion model (an IDM is its own method)
  --seed N           operator and sampler seed (image i uses N + i)
${METHOD_HELP}
${OPERATOR_HELP}`,
  options: { ...OPERATOR_OPTIONS, ...METHOD_OPTIONS, operator: { type: 'string' }, model: { type: 'string' }, data: { type: 'string' }, json: { type: 'string' }, markdown: { type: 'string' }, seed: { type: 'string' } },
  async run(values) {
    if (!values.data) throw new UsageError('--data DIR is required');
    const files = String(values.model ?? '').split(',').filter(Boolean);
    if (!files.length) throw new UsageError('--model FILE[,FILE...] is required');
    const seed = number(values, 'seed', 0, Number.isInteger, 'an integer');
    const images = (await inputs(String(values.data))).map(({ name, image }) => ({ name, image: keep(image) }));
    const rows: Row[] = [];
    for (const file of files) {
      const model = loadModel(file);
      const operators = values.operator ? operatorSpecs(values) : [evaluationOperator(model, values)];
      const names = model instanceof IDM ? [] : String(values.method ?? '').split(',').filter(Boolean);
      const methods = (names.length ? names : [undefined]).map((name) => restorer(model, name, values));
      const progress: EvaluationOptions['onProgress'] = ({ method, operator, index, count }) =>
        process.stderr.write(`\r${path.basename(file)} · ${method} · ${operator.family}: image ${index + 1}/${count}   `);
      for (const row of evaluate({ methods, operators, images, seed, onProgress: process.stderr.isTTY ? progress : undefined })) rows.push({ model: path.basename(file), ...row });
      model.dispose();
    }
    if (process.stderr.isTTY) process.stderr.write('\n');
    const md = markdownTable(rows, COLUMNS);
    console.log(`${images.length} images from ${values.data}\n\n${md}`);
    if (values.markdown) fs.writeFileSync(String(values.markdown), md + '\n');
    if (values.json) fs.writeFileSync(String(values.json), JSON.stringify(rows, null, 2));
    return 0;
  },
};
