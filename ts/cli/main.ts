#!/usr/bin/env node
/**
 * Entry point of the `densenet` binary. Errors are printed as one line on stderr with exit
 * code 1 (with the stack trace when `DENSENET_DEBUG=1`).
 *
 * @module
 */
import { reportError } from './common.js';
import { buildProgram } from './program.js';

try {
  await buildProgram().parseAsync(process.argv);
} catch (err) {
  reportError(err);
  process.exitCode = 1;
}
