/**
 * `densenet train` — registration hook; the training command is not wired yet.
 *
 * @module
 */
import type { Command } from 'commander';

/**
 * Registers the `train` command (a stub that prints "not yet available" and exits 1).
 *
 * @param program - the root command
 */
export function registerTrain(program: Command): Command {
  return program
    .command('train')
    .description('train a model (not yet available)')
    .allowUnknownOption()
    .allowExcessArguments()
    .action(() => {
      process.stderr.write('densenet train: not yet available\n');
      process.exitCode = 1;
    });
}
