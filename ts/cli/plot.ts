/**
 * `densenet plot results.csv [-o out.png]`: loss and error curves (train, valid, test) of a training run as a PNG.
 *
 * @module
 */
import { dirname, join } from 'node:path';

import type { Command } from 'commander';

import { writeResultsPlot } from '../train/plot.js';
import { parsePositiveInt } from './common.js';

/** Options of the `plot` command. */
export interface PlotCommandOptions {
  /** Output file (`.png`, or `.svg`). Default: `results.png` next to the CSV. */
  output?: string;
  /** Title. */
  title?: string;
  /** Width in pixels. */
  width?: number;
  /** Height in pixels. */
  height?: number;
}

/**
 * Runs `plot`.
 *
 * @param csv - the results.csv
 * @param opts - command options
 * @returns the written file
 */
export async function runPlot(csv: string, opts: PlotCommandOptions): Promise<string> {
  const out = opts.output ?? join(dirname(csv), 'results.png');
  const n = await writeResultsPlot(csv, out, {
    ...(opts.title !== undefined ? { title: opts.title } : {}),
    ...(opts.width !== undefined ? { width: opts.width } : {}),
    ...(opts.height !== undefined ? { height: opts.height } : {}),
  });
  process.stdout.write(`wrote ${out} (${n} epoch${n === 1 ? '' : 's'})\n`);
  return out;
}

/**
 * Registers the `plot` command.
 *
 * @param program - the root command
 */
export function registerPlot(program: Command): Command {
  return program
    .command('plot')
    .showHelpAfterError('(densenet plot --help lists the options)')
    .description('plot the loss and error curves (train, valid, test) of a results.csv as a PNG')
    .argument('<results.csv>', 'the results.csv of a training run')
    .option('-o, --output <file>', 'output image, .png or .svg (default: results.png next to the CSV)')
    .option('--title <text>', 'title (default "Training curves")')
    .option('--width <px>', 'width (default 1200)', parsePositiveInt)
    .option('--height <px>', 'height (default 480)', parsePositiveInt)
    .action(async (csv: string, opts: PlotCommandOptions) => {
      await runPlot(csv, opts);
    });
}
