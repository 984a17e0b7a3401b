/**
 * `densenet eval` — registration hook; the evaluation command is not wired yet.
 *
 * @module
 */
import type { Command } from 'commander';

/**
 * Registers the `eval` command (a stub that prints "not yet available" and exits 1).
 *
 * @param program - the root command
 */
export function registerEval(program: Command): Command {
  return program
    .command('eval')
    .description('evaluate a model on a test set (not yet available)')
    .allowUnknownOption()
    .allowExcessArguments()
    .action(() => {
      process.stderr.write('densenet eval: not yet available\n');
      process.exitCode = 1;
    });
}
