// invdiff train idm|unconditional|palette|invfussion: trains a model from images (or generated dead-leaves) and saves
// it with what it was trained for, which restore and eval read back.
import { ImageDataset } from '../data/dataset';
import { manualSeed } from '../generated/ops';
import { Palette, Unconditional } from '../models/diffusion';
import { IDM } from '../models/idm';
import { InvFussion } from '../models/invfussion';
import { EDM2_TRAINING, INVFUSSION_DEGRADATIONS, INVFUSSION_WEIGHTS } from '../training/mixture';
import { trainDiffusion } from '../training/diffusion';
import { trainIDM } from '../training/idm';
import * as distributed from '../training/distributed';
import * as fs from 'fs';
import * as path from 'path';
import { writeCard } from '../models/card';
import { Command, number, positiveInt, UsageError } from './args';
import { launch } from './launch';
import { OPERATOR_HELP, OPERATOR_OPTIONS, operatorSpec, rejectOperatorFlags } from './operator';
import { QUIET_HELP, QUIET_OPTIONS } from './output';

export const train: Command = {
  summary: 'train a model: idm, unconditional, palette or invfussion',
  usage: `invdiff train idm|unconditional|palette|invfussion --out FILE [options]
  --data DIR         training images, Y channel (default: generated dead-leaves images); grey models restore
                     colour images channel by channel
  --steps N          optimisation steps (default 1000)
  --crop N --batch N patch side and batch size (default 64, 4)
  --lr X             Adam learning rate (default 1e-3, halved at 60% and 85% of the steps)
  --channels N       U-Net width (default 16 for idm, 32 otherwise); --blocks N blocks per level (default 1)
  --T N              idm: sampling steps of the unrolled chain (default 3)
  --checkpoint FILE  checkpoint every 100 steps and on Ctrl-C; --resume continues from it
  --plot FILE        a PNG chart of the loss (and validation PSNR), updated with each checkpoint
  --seed N           seeds the initial weights, data order, crops, noise and operators (default 0)
  --nproc N          data-parallel on N local processes (c10d, Gloo), each of batch --batch: starts them as
                     torchrun does, forwards Ctrl-C, restarts nothing and reports each rank's exit
  --nnodes M --node-rank K  one machine of M, each running the same command with MASTER_ADDR and MASTER_PORT
                     set to node 0's address and a free port there; a command started with RANK and WORLD_SIZE
                     set (by torchrun or a cluster launcher) is one rank of such a run
${QUIET_HELP}
  The model file gets a card (invdiff info FILE shows it): kind, configuration, operator, data, steps, date.
  idm trains for the operator below; palette trains on it as its degradation; unconditional takes none.
  invfussion is the cpu32 HDiT (32×32 crops by default) trained with EDM2's loss on the paper's mixture (a
  random matrix, strided motion blur, patch inpainting, none), or on the operator below when one is given.
${OPERATOR_HELP}`,
  options: {
    ...OPERATOR_OPTIONS,
    ...QUIET_OPTIONS,
    data: { type: 'string' },
    out: { type: 'string' },
    steps: { type: 'string' },
    crop: { type: 'string' },
    batch: { type: 'string' },
    lr: { type: 'string' },
    channels: { type: 'string' },
    blocks: { type: 'string' },
    T: { type: 'string' },
    checkpoint: { type: 'string' },
    plot: { type: 'string' },
    resume: { type: 'boolean' },
    seed: { type: 'string' },
    nproc: { type: 'string' },
    nnodes: { type: 'string' },
    'node-rank': { type: 'string' },
  },
  async run(values, positionals) {
    const kind = positionals[0];
    if (!['idm', 'unconditional', 'palette', 'invfussion'].includes(kind)) throw new UsageError(`train needs a model kind: idm, unconditional, palette or invfussion`);
    if (!values.out) throw new UsageError('--out FILE is required (where the trained model goes)');
    if (kind === 'unconditional') rejectOperatorFlags(values, 'an unconditional model learns the images alone (no operator); the zero-shot samplers bring the operator in at restoration');
    if (values.resume && !values.checkpoint) throw new UsageError('--resume needs --checkpoint FILE (the checkpoint to continue from)');
    if (values.resume && !fs.existsSync(String(values.checkpoint)))
      throw new UsageError(`--resume: the checkpoint '${values.checkpoint}' does not exist (run without --resume to start afresh; it is written there every 100 steps)`);
    if (values.data !== undefined && !(fs.existsSync(String(values.data)) && fs.statSync(String(values.data)).isDirectory()))
      throw new UsageError(`--data '${values.data}' is not a folder of images`);
    const steps = number(values, 'steps', 1000, positiveInt, 'a positive integer');
    const crop = number(values, 'crop', kind === 'invfussion' ? 32 : 64, positiveInt, 'a positive integer');
    const batch = number(values, 'batch', 4, positiveInt, 'a positive integer');
    const seed = number(values, 'seed', 0, Number.isInteger, 'an integer');
    const operator = operatorSpec(values);
    const channels = number(values, 'channels', kind === 'idm' ? 16 : 32, positiveInt, 'a positive integer');
    const blocks = number(values, 'blocks', 1, positiveInt, 'a positive integer');
    if (kind !== 'idm' && values.T !== undefined) throw new UsageError('--T applies to idm only');
    if (kind === 'invfussion' && (values.channels !== undefined || values.blocks !== undefined))
      throw new UsageError('--channels and --blocks set the U-Net; invfussion is the cpu32 HDiT');
    const mixture = kind === 'invfussion' && values.operator === undefined;
    if (mixture)
      rejectOperatorFlags(values, "invfussion trains on the paper's mixture of degradations unless --operator names one");
    if (values.nproc !== undefined)
      return launch({
        nproc: number(values, 'nproc', 1, positiveInt, 'a positive integer'),
        nnodes: number(values, 'nnodes', 1, positiveInt, 'a positive integer'),
        nodeRank: number(values, 'node-rank', 0, (v) => Number.isInteger(v) && v >= 0, 'an integer >= 0'),
        args: withoutLauncherFlags(process.argv.slice(2)),
      });
    if (values.nnodes !== undefined || values['node-rank'] !== undefined) throw new UsageError('--nnodes and --node-rank go with --nproc N');
    // One rank of a data-parallel run (started by --nproc, torchrun or a cluster launcher).
    const parallel = process.env.WORLD_SIZE !== undefined;
    if (parallel) await distributed.initAsync();
    manualSeed(seed); // the initial weights come from LibTorch's global generator, seeded afresh per process
    const model =
      kind === 'idm'
        ? new IDM({ channels, blocks, steps: number(values, 'T', 3, positiveInt, 'a positive integer'), heads: 2 })
        : kind === 'invfussion'
          ? new InvFussion()
          : new (kind === 'palette' ? Palette : Unconditional)({ channels, blocks });
    if (crop % model.sizeMultiple) throw new UsageError(`--crop must be a multiple of ${model.sizeMultiple}`);
    const data = values.data
      ? await ImageDataset.fromFolder(String(values.data), { crop, batch, seed, mode: 'y' })
      : ImageDataset.deadLeaves({ count: 64, size: Math.max(96, crop), imageSeed: 1000, crop, batch, seed });
    const loop = {
      steps, seed, lr: number(values, 'lr', 1e-3, (v) => v > 0, 'a positive number'),
      milestones: [Math.round(steps * 0.6), Math.round(steps * 0.85)],
      checkpoint: values.checkpoint as string | undefined, checkpointEvery: 100, resume: Boolean(values.resume),
      handleInterrupt: true, progress: !values.quiet, plot: values.plot as string | undefined, distributed: parallel,
    };
    const result =
      model instanceof IDM
        ? await trainIDM({ ...loop, model, data, operator })
        : model instanceof InvFussion
          ? await trainDiffusion({ ...loop, ...EDM2_TRAINING, model, data, degradations: mixture ? INVFUSSION_DEGRADATIONS : [operator], degradationWeights: mixture ? INVFUSSION_WEIGHTS : undefined })
          : await trainDiffusion({ ...loop, model, data, degradations: model instanceof Palette ? [operator] : undefined });
    data.dispose();
    const { rank, worldSize } = distributed;
    if (parallel) distributed.destroy();
    if (rank !== 0) return result.interrupted ? 130 : 0; // rank 0 writes the model
    const degradations = model instanceof InvFussion && mixture ? INVFUSSION_DEGRADATIONS : [operator];
    const trained = model instanceof IDM ? { operator } : model instanceof Unconditional ? {} : { degradations };
    const out = String(values.out);
    model.save(out, { 'invdiff.trained': JSON.stringify({ ...trained, steps: result.step, seed }) });
    const trainedFor = model instanceof IDM ? [operator] : model instanceof Unconditional ? [] : degradations;
    writeCard(out, { trainedFor, data: values.data ? path.basename(path.resolve(String(values.data))) : 'dead-leaves (generated)', steps: result.step });
    const ranks = parallel ? ` on ${worldSize} processes` : '';
    console.log(`${result.interrupted ? 'interrupted' : 'trained'}: ${result.step} steps${ranks} in ${result.seconds.toFixed(0)} s, last loss ${result.losses.at(-1)?.toFixed(4)}; model written to ${values.out}`);
    return result.interrupted ? 130 : 0;
  },
};

// The command line each rank runs: this one without the launcher's own flags.
function withoutLauncherFlags(argv: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const flag = /^--(nproc|nnodes|node-rank)(=.*)?$/.exec(argv[i]);
    if (!flag) out.push(argv[i]);
    else if (!flag[2]) i++; // its value is the next argument
  }
  return out;
}
