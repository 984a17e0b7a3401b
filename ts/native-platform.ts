/**
 * Where the addon comes from: this package's root, the running platform's triple, the names of
 * the platform packages, the MPI job this process belongs to, and the advice of a failed load.
 *
 * @module
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

import type { NativeLoadAttempt } from './errors.js';
import { internalDir, internalRequire } from './internal/here.cjs';

/**
 * The root directory of this package (the nearest ancestor of this module holding a
 * `package.json` named `densenet-sdk`); works from `ts/` (tsx), `dist/` (ESM) and `dist/cjs/`
 * (CommonJS), in the repository and in an installed copy.
 */
export function packageRoot(): string {
  let dir = internalDir;
  for (;;) {
    const pj = join(dir, 'package.json');
    if (existsSync(pj)) {
      try {
        if (JSON.parse(readFileSync(pj, 'utf8')).name === 'densenet-sdk') return dir;
      } catch {
        /* keep looking */
      }
    }
    const up = dirname(dir);
    if (up === dir) return join(internalDir, '..', '..');
    dir = up;
  }
}

function isMusl(): boolean {
  if (process.platform !== 'linux') return false;
  try {
    const header = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)?.header;
    return !header?.glibcVersionRuntime;
  } catch {
    return false;
  }
}

/**
 * The napi-rs platform triple of the running process, e.g. `linux-x64-gnu`,
 * `darwin-arm64`, `win32-x64-msvc`.
 */
export function platformTriple(): string {
  const base = `${process.platform}-${process.arch}`;
  if (process.platform === 'linux') return `${base}-${isMusl() ? 'musl' : 'gnu'}`;
  if (process.platform === 'win32') return `${base}-msvc`;
  return base;
}

/** The npm scope of the platform packages (`@densenet-sdk/linux-x64-gnu`, ...). */
export const PLATFORM_PACKAGE_SCOPE = '@densenet-sdk';

/**
 * The platform package of a triple: `@densenet-sdk/<triple>`, or `@densenet-sdk/<triple>-cuda`.
 *
 * @param triple - a platform triple (see {@link platformTriple})
 * @param cuda - the CUDA variant
 */
export function platformPackageName(triple: string, cuda = false, mpi = false): string {
  return `${PLATFORM_PACKAGE_SCOPE}/${triple}${cuda ? '-cuda' : ''}${mpi ? '-mpi' : ''}`;
}

/**
 * Where this process stands in an MPI job, from the launcher's environment variables.
 *
 * @category Native addon
 */
export interface MpiEnvironment {
  /** This process's rank in the world, `0..size-1`. */
  rank: number;
  /** Processes in the world. */
  size: number;
  /** Rank among the processes on this node. */
  localRank: number;
  /** Processes on this node (when the launcher says; else `size`). */
  localSize: number;
  /** The variable the rank came from (`OMPI_COMM_WORLD_RANK`, `PMI_RANK`, ...). */
  source: string;
}

/**
 * The MPI job this process belongs to, from the launcher's variables: Open MPI
 * (`OMPI_COMM_WORLD_RANK`/`SIZE`/`LOCAL_RANK`/`LOCAL_SIZE`), MPICH and Intel MPI (`PMI_RANK`/`PMI_SIZE`,
 * `MPI_LOCALRANKID`/`MPI_LOCALNRANKS`), MVAPICH2 (`MV2_COMM_WORLD_*`). `null` outside MPI, or when
 * `DENSENET_MPI=0`.
 *
 * @param env - the environment (default `process.env`)
 *
 * @category Native addon
 */
export function mpiEnvironment(env: NodeJS.ProcessEnv = process.env): MpiEnvironment | null {
  if (env.DENSENET_MPI === '0') return null;
  const int = (v: string | undefined): number | undefined => (v !== undefined && /^\d+$/.test(v) ? Number(v) : undefined);
  const schemes: [string, string, string, string][] = [
    ['OMPI_COMM_WORLD_RANK', 'OMPI_COMM_WORLD_SIZE', 'OMPI_COMM_WORLD_LOCAL_RANK', 'OMPI_COMM_WORLD_LOCAL_SIZE'],
    ['MV2_COMM_WORLD_RANK', 'MV2_COMM_WORLD_SIZE', 'MV2_COMM_WORLD_LOCAL_RANK', 'MV2_COMM_WORLD_LOCAL_SIZE'],
    ['PMI_RANK', 'PMI_SIZE', 'MPI_LOCALRANKID', 'MPI_LOCALNRANKS'],
  ];
  for (const [r, n, lr, ls] of schemes) {
    const rank = int(env[r]);
    const size = int(env[n]);
    if (rank === undefined || size === undefined || size < 1 || rank >= size) continue;
    return { rank, size, localRank: int(env[lr]) ?? rank, localSize: int(env[ls]) ?? size, source: r };
  }
  return null;
}

/**
 * This package's version and the triples that have a platform package (its optionalDependencies).
 *
 * @internal
 */
export function packageFacts(): { version: string; triples: string[]; checkout: boolean } {
  const rootDir = packageRoot();
  let version = '';
  let triples: string[] = [];
  try {
    const pkg = JSON.parse(readFileSync(join(rootDir, 'package.json'), 'utf8')) as {
      version?: string;
      optionalDependencies?: Record<string, string>;
    };
    version = pkg.version ?? '';
    const prefix = `${PLATFORM_PACKAGE_SCOPE}/`;
    triples = Object.keys(pkg.optionalDependencies ?? {})
      .filter((n) => n.startsWith(prefix))
      .map((n) => n.slice(prefix.length));
  } catch {
    /* an unreadable package.json: no facts */
  }
  // A git checkout holds the Rust sources: the addon can be built there.
  const checkout = existsSync(join(rootDir, 'crates', 'densenet-node', 'Cargo.toml'));
  return { version, triples, checkout };
}

/**
 * What a user does about a failed load: the lines after the list of attempts in the
 * {@link NativeLoadError} message.
 *
 * @param facts - the running platform, the variant, what was tried, this package's version, the
 *   triples with a platform package and whether this is a source checkout
 * @internal
 */
export function nativeLoadAdvice(facts: {
  triple: string;
  cuda: boolean;
  attempts: readonly NativeLoadAttempt[];
  version: string;
  triples: readonly string[];
  checkout: boolean;
}): string {
  const { triple, cuda, version, triples, checkout } = facts;
  const pkg = platformPackageName(triple, cuda);
  const spec = version ? `${pkg}@${version}` : pkg;
  const tarball = `${pkg.slice(1).replace('/', '-')}${version ? `-${version}` : ''}.tgz`;
  const lines: string[] = [];
  if (!triples.includes(triple)) {
    const known = triples.length ? triples.map((t) => `${t} (${platformPackageName(t)})`).join(', ') : 'none';
    lines.push(
      `There is no prebuilt addon for ${triple}. Platforms with a prebuilt addon: ${known}.`,
      'Elsewhere, build densenet-sdk from source (Rust needed): see "Building from source" in its README.',
    );
  } else {
    const attempt = facts.attempts.find((a) => a.target === pkg);
    const installed = attempt !== undefined && attempt.reason !== 'package is not installed';
    if (installed) {
      lines.push(`${pkg} is installed but did not load (see above). Reinstall it at the version of densenet-sdk:`);
    } else if (cuda) {
      lines.push(`The CUDA addon is the package ${pkg}, which densenet-sdk does not install by itself. Install it:`);
    } else {
      lines.push(
        `The addon is the platform package ${pkg}, an optional dependency of densenet-sdk that was not installed`,
        '(npm leaves an optional dependency out with --omit=optional, when it cannot fetch it, or with a lockfile from another platform). Install it:',
      );
    }
    lines.push(`  npm install ${spec}`, `(or its packed tarball: npm install ./${tarball})`);
    if (cuda) lines.push('Without DENSENET_CUDA=1 (or with loadNative({ cuda: false })) the CPU addon is used.');
  }
  if (checkout) {
    lines.push(
      cuda
        ? `In this source checkout, \`npm run build:cuda\` builds native/densenet.${triple}-cuda.node (no GPU needed to build).`
        : `In this source checkout, \`npm run build:native\` builds native/densenet.${triple}.node.`,
    );
  }
  return lines.join('\n');
}

/**
 * The version in an installed package's package.json, or `undefined` when it cannot be read.
 *
 * @internal
 */
export function installedVersion(name: string): string | undefined {
  try {
    const file = internalRequire.resolve(`${name}/package.json`);
    return (JSON.parse(readFileSync(file, 'utf8')) as { version?: string }).version;
  } catch {
    return undefined;
  }
}
