// `invdiff train ... --nproc N`: a launcher in the spirit of torchrun. It starts N ranks of the same command
// on this machine with the variables torchrun sets (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT),
// forwards Ctrl-C (SIGINT) and SIGTERM to them, restarts nothing, and reports each rank's exit. With
// --nnodes M --node-rank K it is one node of M, each started the same way with MASTER_ADDR naming node 0.
import { spawn } from 'child_process';
import * as net from 'net';
import * as os from 'os';
import { UsageError } from './args';

export interface LaunchOptions {
  nproc: number;
  nnodes: number;
  nodeRank: number;
  /** The command line each rank runs, after `node invdiff`. */
  args: string[];
}

// After the first rank fails, the others get this long to stop by themselves (they report the dead rank by
// name once their next collective fails) before they are sent SIGTERM.
const GRACE_MS = 30_000;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** Runs the ranks of this node; resolves with the exit code: 0, or the first failed rank's. */
export async function launch(o: LaunchOptions): Promise<number> {
  if (o.nodeRank >= o.nnodes) throw new UsageError(`--node-rank must lie in [0, ${o.nnodes - 1}], got ${o.nodeRank}`);
  if (o.nnodes > 1 && !process.env.MASTER_ADDR) throw new UsageError('--nnodes above 1 needs MASTER_ADDR (node 0\'s address) and MASTER_PORT set on every node');
  if (o.nnodes > 1 && !process.env.MASTER_PORT) throw new UsageError('--nnodes above 1 needs MASTER_PORT set on every node (the same free port)');
  for (const v of ['RANK', 'WORLD_SIZE', 'LOCAL_RANK'])
    if (process.env[v] !== undefined) throw new UsageError(`--nproc starts the ranks itself; ${v} is already set (run one rank per command without --nproc instead)`);
  const worldSize = o.nproc * o.nnodes;
  const masterAddr = process.env.MASTER_ADDR || '127.0.0.1';
  const masterPort = process.env.MASTER_PORT || String(await freePort());
  // As torchrun does: the cores shared out, unless the user chose.
  const threads = process.env.OMP_NUM_THREADS ?? String(Math.max(1, Math.floor((os.availableParallelism?.() ?? os.cpus().length) / o.nproc)));
  const exits: (string | undefined)[] = Array(o.nproc).fill(undefined);
  let firstFailure: number | undefined;
  let grace: NodeJS.Timeout | undefined;
  const children = Array.from({ length: o.nproc }, (_, local) => {
    const rank = o.nodeRank * o.nproc + local;
    const env = { ...process.env, RANK: String(rank), WORLD_SIZE: String(worldSize), LOCAL_RANK: String(local), MASTER_ADDR: masterAddr, MASTER_PORT: masterPort, OMP_NUM_THREADS: threads };
    return spawn(process.execPath, [process.argv[1], ...o.args], { env, stdio: 'inherit' });
  });
  let interrupted = false;
  const forward = (signal: NodeJS.Signals) => () => {
    interrupted ||= signal === 'SIGINT';
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill(signal);
  };
  const onInt = forward('SIGINT');
  const onTerm = forward('SIGTERM');
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onTerm);
  try {
    const codes = await Promise.all(
      children.map(
        (child, local) =>
          new Promise<number>((resolve) => {
            child.on('error', (err) => {
              exits[local] = `failed to start (${err.message})`;
              resolve(1);
            });
            child.on('exit', (code, signal) => {
              const rank = o.nodeRank * o.nproc + local;
              const c = code ?? 128 + (os.constants.signals[signal!] ?? 0);
              exits[local] = signal ? `killed by ${signal}` : `exited ${code}`;
              if (c !== 0 && firstFailure === undefined && !interrupted) {
                firstFailure = c;
                process.stderr.write(`invdiff train: rank ${rank} ${exits[local]}; the other ranks stop on their own (SIGTERM after ${GRACE_MS / 1000} s)\n`);
                grace = setTimeout(onTerm, GRACE_MS);
              }
              resolve(c);
            });
          }),
      ),
    );
    process.stderr.write(`invdiff train: ${exits.map((e, local) => `rank ${o.nodeRank * o.nproc + local} ${e}`).join(', ')}\n`);
    // Ctrl-C: the ranks stop together after one step, rank 0 saving, and exit 130 as a single process would.
    return firstFailure ?? codes.find((c) => c !== 0) ?? 0;
  } finally {
    if (grace) clearTimeout(grace);
    process.off('SIGINT', onInt);
    process.off('SIGTERM', onTerm);
  }
}
