/**
 * sharp, loaded on first use (never at import time): the SDK loads without sharp's native
 * binary, and only image decoding and PNG plots need it.
 *
 * It is loaded with a plain CommonJS `require` made by `module.createRequire` (`internalRequire`), in both builds:
 * sharp ships CommonJS, and a `require` handed to a CommonJS module that Node's ESM loader runs
 * with loader hooks (a `.cts` file under tsx on Node 20) cannot load sharp's JSON files.
 *
 * @internal
 * @module
 */
import type { default as SharpFn } from 'sharp';

import { internalRequire } from './here.cjs';

/** The sharp function. */
export type Sharp = typeof SharpFn;

let sharpModule: Sharp | undefined;

/**
 * Loads sharp once and returns it; a failed load is retried on the next call.
 *
 * @returns the sharp function
 * @throws the load's error (callers wrap it in their typed error)
 */
export async function loadSharp(): Promise<Sharp> {
  if (!sharpModule) {
    const m = internalRequire('sharp') as Sharp | { default: Sharp };
    sharpModule = typeof m === 'function' ? m : m.default;
  }
  return sharpModule;
}
