// invdiff eval: a PSNR/SSIM table over a test set for one or more models and methods (Markdown, JSON, and
// with --report an HTML page with image grids and a PSNR-per-image chart).
import * as fs from 'fs';
import * as path from 'path';
import { Progress } from '../io/progress';
import type { AnyModel } from '../models/any';
import { IDM } from '../models/idm';
import { evaluate, EvaluationRow, NamedImage } from '../restoration/evaluate';
import { Column, describeOperator, markdownTable, SCORE_COLUMNS } from '../restoration/report';
import { GridSection, writeReport } from '../restoration/report-page';
import { cat } from '../generated/ops';
import { keep, type Tensor } from '../tensor';
import { Command, number, UsageError } from './args';
import { imageMode, inputs, loadModel, MODE_HELP, MODE_OPTIONS } from './files';
import { checkMethodFlags, METHOD_HELP, METHOD_OPTIONS, methodNames, restorer } from './method';
import { evaluationOperator, OPERATOR_HELP, OPERATOR_OPTIONS, operatorSpecs } from './operator';
import { QUIET_HELP, QUIET_OPTIONS, warn } from './output';

type Row = EvaluationRow & { model: string };
const COLUMNS: Column<Row>[] = [{ header: 'model', cell: (r) => r.model }, { header: 'operator', cell: (r) => describeOperator(r.operator) }, ...SCORE_COLUMNS];

export const evalCommand: Command = {
  summary: 'a PSNR/SSIM table over a test set for one or more models and methods, as Markdown, JSON or an HTML report',
  usage: `invdiff eval --model FILE|NAME[,...] --data DIR [--method NAME[,NAME...]] [--json FILE] [--markdown FILE] [--report DIR] [options]
  each model is evaluated with the operator it was trained for unless --operator is given (block CS 10% for an
  unconditional model); --operator a,b and --ratio r1,r2 (block CS) evaluate every combination;
  --method lists the methods to run on each diffusion model (an IDM is its own method)
  --report DIR       an HTML page (DIR/report.html): the table, image grids with their errors, PSNR per image
  --seed N           operator and sampler seed (image i uses N + i)
${MODE_HELP}
${QUIET_HELP}
${METHOD_HELP}
${OPERATOR_HELP}`,
  options: {
    ...OPERATOR_OPTIONS, ...METHOD_OPTIONS, ...MODE_OPTIONS, ...QUIET_OPTIONS,
    model: { type: 'string' }, data: { type: 'string' }, json: { type: 'string' }, markdown: { type: 'string' }, report: { type: 'string' }, seed: { type: 'string' },
  },
  async run(values) {
    if (!values.data) throw new UsageError('--data DIR is required');
    const files = String(values.model ?? '').split(',').filter(Boolean);
    if (!files.length) throw new UsageError('--model FILE|NAME[,...] is required');
    const seed = number(values, 'seed', 0, Number.isInteger, 'an integer');
    const images = (await inputs(String(values.data), imageMode(values), '--data')).map(({ name, image }) => ({ name, image: keep(image) }));
    const quiet = Boolean(values.quiet);
    const rows: Row[] = [];
    const sections: GridSection[] = [];
    const held: Tensor[] = [];
    // Models load one at a time; their flags are checked before any work starts. A method flag must apply
    // to some model's methods (an IDM takes none).
    let diffusion: AnyModel | undefined;
    let idm: AnyModel | undefined;
    const plans = files.map((file) => {
      const model = loadModel(file);
      const names = model instanceof IDM ? ['idm'] : methodNames(model, values);
      const operators = values.operator ? operatorSpecs(values) : [evaluationOperator(model, values)];
      if (model instanceof IDM) idm ??= model;
      else diffusion ??= model;
      if (model !== idm && model !== diffusion) model.dispose();
      return { file, names, operators, idm: model instanceof IDM };
    });
    try {
      if (diffusion) checkMethodFlags(diffusion, plans.filter((p) => !p.idm).flatMap((p) => p.names), values);
      else checkMethodFlags(idm!, ['idm'], values);
    } finally {
      idm?.dispose();
      diffusion?.dispose();
    }
    const total = plans.reduce((n, p) => n + p.names.length * p.operators.length * images.length, 0);
    const progress = new Progress('eval', total, { quiet });
    let done = 0;
    let label = '';
    for (const { file, names, operators } of plans) {
      const model = loadModel(file);
      const methods = names.map((name) => restorer(model, model instanceof IDM ? undefined : name, values, ({ step, steps }) => progress.update(done + (step + 1) / steps, label)));
      const modelName = path.basename(file);
      const evaluated = evaluate({
        methods, operators, images, seed, keepImages: Boolean(values.report), onWarning: (m) => warn(m),
        onProgress: ({ method, operator, index }) => {
          label = `${modelName} · ${method} · ${describeOperator(operator)} · ${images[index].name}`;
          progress.update(done, label);
        },
        onRow: (r) => {
          if (r.method !== 'A⁺y') done += images.length;
        },
      });
      progress.update(done, label);
      for (const row of evaluated) {
        // A⁺y does not depend on the model (restoreImages measures it unpadded): one row per operator.
        const seen = row.method === 'A⁺y' && rows.some((r) => r.method === 'A⁺y' && JSON.stringify(r.operator) === JSON.stringify(row.operator));
        if (!seen) rows.push({ model: row.method === 'A⁺y' ? '' : modelName, ...row });
        if (row.restored) held.push(...row.restored);
      }
      if (values.report) sections.push(...gridSections(evaluated, images, modelName));
      model.dispose();
    }
    progress.finish();
    const md = markdownTable(rows, COLUMNS);
    console.log(`${images.length} images from ${values.data}\n\n${md}`);
    if (values.markdown) fs.writeFileSync(String(values.markdown), md + '\n');
    if (values.json) fs.writeFileSync(String(values.json), JSON.stringify(rows.map(({ restored: _, ...r }) => r), null, 2));
    if (values.report) {
      const page = await writeReport(String(values.report), {
        title: `invdiff eval: ${files.map((f) => path.basename(f)).join(', ')}`,
        intro: `<p>${images.length} images from <code>${String(values.data)}</code>; image i measured with seed ${seed} + i.</p>`,
        rows, columns: COLUMNS, sections,
      });
      for (const s of sections) for (const t of [s.truth, s.baseline, ...s.results.map((r) => r.images)]) t.dispose();
      console.log(`report: ${page}`);
    }
    for (const t of held) t.dispose();
    for (const { image } of images) image.dispose();
    return 0;
  },
};

// One grid per operator for the images of the most common size (a grid needs one size), the first 8.
function gridSections(rows: EvaluationRow[], images: NamedImage[], model: string): GridSection[] {
  const size = (t: Tensor) => t.shape.slice(1).join('×');
  const counts = new Map<string, number>();
  for (const { image } of images) counts.set(size(image), (counts.get(size(image)) ?? 0) + 1);
  const common = [...counts.entries()].sort((a, b) => b[1] - a[1])[0][0];
  const picked = images.map((im, i) => [im, i] as const).filter(([im]) => size(im.image) === common).slice(0, 8).map(([, i]) => i);
  const join = (list: Tensor[]) => cat(picked.map((i) => list[i]), { dim: 0 });
  const sections: GridSection[] = [];
  for (let k = 0; k < rows.length; k++) {
    if (rows[k].method !== 'A⁺y') continue;
    const results = [];
    for (let j = k + 1; j < rows.length && rows[j].method !== 'A⁺y'; j++) results.push({ label: rows[j].method, images: keep(join(rows[j].restored!)) });
    sections.push({ heading: `${model} · ${describeOperator(rows[k].operator)}`, truth: keep(join(images.map((im) => im.image))), baseline: keep(join(rows[k].restored!)), results });
  }
  return sections;
}
