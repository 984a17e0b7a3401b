/** Runs the CLI from source for the CLI tests (not a test file). */
import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '../..');

/** The CLI's entry point (TypeScript, run through tsx). */
export const CLI_MAIN = join(root, 'ts/cli/main.ts');

/**
 * `--import` argument that loads tsx from this repository whatever the working directory is
 * (a bare `--import tsx` resolves from the working directory).
 */
export const TSX_IMPORT = pathToFileURL(createRequire(join(root, 'package.json')).resolve('tsx')).href;

/** Node arguments that run the CLI from source: `node ...CLI_NODE_ARGS <command> ...`. */
export const CLI_NODE_ARGS = ['--import', TSX_IMPORT, CLI_MAIN];

/** Exit code and output of one CLI run. */
export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * `node --import tsx ts/cli/main.ts ...args` with extra environment, in `cwd` (default: the
 * repository root; commands that record or read `runs/last-run.json` should run in a temp dir).
 */
export function cli(args: string[], env: NodeJS.ProcessEnv = {}, options: { cwd?: string } = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [...CLI_NODE_ARGS, ...args],
      { cwd: options.cwd ?? root, env: { ...process.env, DENSENET_DEBUG: '', ...env }, maxBuffer: 64 << 20 },
      (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }),
    );
  });
}
