/**
 * The glibc check before `require()` of a native addon. An addon linked against a newer glibc
 * than the system's fails inside `require()` with a dynamic-linker message ("GLIBC_2.34 not
 * found"); when its build recorded the highest `GLIBC_x.y` its symbols need (a
 * `<name>.glibc.json` next to the `.node`, written by scripts/glibc-needs.mjs from `objdump -T`),
 * the loader refuses it first, naming both versions, and the load fails with a typed
 * `NativeLoadError` listing that reason.
 *
 * @internal
 * @module
 */
import { existsSync, readFileSync } from 'node:fs';

import { internalRequire } from './here.cjs';

/** The record next to an addon: `x.node` → `x.glibc.json`. */
export function glibcRecordPath(addon: string): string {
  return `${addon.replace(/\.node$/, '')}.glibc.json`;
}

/** This process's glibc ("2.36"), from Node's diagnostic report; undefined off glibc. */
export function runtimeGlibc(): string | undefined {
  const report = process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined;
  return report?.header?.glibcVersionRuntime;
}

/** Compares dotted versions numerically: negative when a < b. */
export function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

/**
 * Why the addon at `target` (a file, or a package resolved to its main file) cannot load on this
 * system's glibc; undefined when it can, or when nothing was recorded.
 */
export function glibcShortfall(target: string, kind: 'file' | 'package', runtime?: string): string | undefined {
  let file = target;
  if (kind === 'package') {
    try {
      file = internalRequire.resolve(target);
    } catch {
      return undefined;
    }
  }
  const record = glibcRecordPath(file);
  if (!existsSync(record)) return undefined;
  let needs: unknown;
  try {
    needs = (JSON.parse(readFileSync(record, 'utf8')) as { glibc?: unknown }).glibc;
  } catch {
    return undefined;
  }
  const have = runtime ?? runtimeGlibc();
  if (typeof needs !== 'string' || !have || compareVersions(have, needs) >= 0) return undefined;
  return `built for glibc ${needs} or newer (its symbols need GLIBC_${needs}), but this system has glibc ${have}: use a newer distribution (e.g. Ubuntu 22.04, RHEL 9) or build the addon on this one`;
}
