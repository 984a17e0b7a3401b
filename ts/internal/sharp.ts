/**
 * sharp, imported on first use (never at import time): the SDK loads without sharp's native
 * binary, and only image decoding and PNG plots need it.
 *
 * @internal
 * @module
 */
import type { default as SharpFn } from 'sharp';

/** The sharp function. */
export type Sharp = typeof SharpFn;

let sharpModule: Promise<Sharp> | undefined;

/**
 * Imports sharp once and returns it; a failed import is retried on the next call.
 *
 * @returns the sharp function
 * @throws the import's error (callers wrap it in their typed error)
 */
export async function loadSharp(): Promise<Sharp> {
  sharpModule ??= import('sharp').then((m) => (m as unknown as { default: Sharp }).default ?? (m as unknown as Sharp));
  try {
    return await sharpModule;
  } catch (e) {
    sharpModule = undefined;
    throw e;
  }
}
