/**
 * The `densenet` command-line program (commander), built without running it.
 *
 * @module
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { Command } from 'commander';

import { packageRoot, setNumThreads } from '../native.js';
import { parsePositiveInt } from './common.js';
import { registerEval } from './eval.js';
import { registerExport } from './export.js';
import { registerInfo } from './info.js';
import { registerPlot } from './plot.js';
import { registerPredict } from './predict.js';
import { registerTrain } from './train.js';

function version(): string {
  try {
    return (JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return '0.0.0';
  }
}

/**
 * Builds the root command with every subcommand registered (`info`, `predict`, `train`, `eval`, `plot`, `export`).
 */
export function buildProgram(): Command {
  const program = new Command();
  program
    .name('densenet')
    .description('Train and run memory-efficient DenseNets (densenet-sdk)')
    .version(version())
    .option('--threads <n>', 'CPU threads of the native core', parsePositiveInt)
    .showHelpAfterError('(densenet --help lists the commands)')
    .hook('preAction', (cmd) => {
      const threads = cmd.opts<{ threads?: number }>().threads;
      if (threads !== undefined) setNumThreads(threads);
    });
  registerInfo(program);
  registerPredict(program);
  registerTrain(program);
  registerEval(program);
  registerPlot(program);
  registerExport(program);
  // A usage error is one line plus this hint, the same for every command.
  for (const cmd of program.commands) cmd.showHelpAfterError(`(densenet ${cmd.name()} --help lists the options)`);
  return program;
}
