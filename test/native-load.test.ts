/**
 * The advice a NativeLoadError ends with: the `npm install` command of the missing platform package
 * (scoped, at this package's version), the supported platforms where none fits, the build command
 * only in a source checkout. (The install test checks the real error in an installed copy.)
 */
import test from 'ava';

import { PLATFORM_PACKAGE_SCOPE, mpiEnvironment, nativeLoadAdvice, platformPackageName } from '../ts/native.js';
import { platformPackageName as scriptName } from '../scripts/pack-platform.mjs';
import { cudaLibraryProblem } from '../ts/internal/cuda-libs.js';

const base = { version: '0.1.0', triples: ['linux-x64-gnu'], checkout: false };
const missing = (target: string) => [
  { target: '/x/native/densenet.linux-x64-gnu.node', reason: 'file does not exist' },
  { target, reason: 'package is not installed' },
];

test('platform packages are scoped, and the loader and the pack script agree on the names', (t) => {
  t.is(PLATFORM_PACKAGE_SCOPE, '@densenet-sdk');
  t.is(platformPackageName('linux-x64-gnu'), '@densenet-sdk/linux-x64-gnu');
  t.is(platformPackageName('linux-x64-gnu', true), '@densenet-sdk/linux-x64-gnu-cuda');
  for (const cuda of [false, true]) t.is(scriptName('linux-x64-gnu', cuda), platformPackageName('linux-x64-gnu', cuda));
  t.is(platformPackageName('linux-x64-gnu', false, true), '@densenet-sdk/linux-x64-gnu-mpi');
  t.is(scriptName('linux-x64-gnu', false, true), '@densenet-sdk/linux-x64-gnu-mpi');
});

test('mpiEnvironment reads Open MPI, MPICH/Intel MPI and MVAPICH2 launchers; null outside MPI or with DENSENET_MPI=0', (t) => {
  t.is(mpiEnvironment({}), null);
  const ompi = { OMPI_COMM_WORLD_RANK: '1', OMPI_COMM_WORLD_SIZE: '4', OMPI_COMM_WORLD_LOCAL_RANK: '1', OMPI_COMM_WORLD_LOCAL_SIZE: '2' };
  t.deepEqual(mpiEnvironment(ompi), { rank: 1, size: 4, localRank: 1, localSize: 2, source: 'OMPI_COMM_WORLD_RANK' });
  t.is(mpiEnvironment({ ...ompi, DENSENET_MPI: '0' }), null);
  t.deepEqual(mpiEnvironment({ PMI_RANK: '3', PMI_SIZE: '8' }), { rank: 3, size: 8, localRank: 3, localSize: 8, source: 'PMI_RANK' });
  t.deepEqual(mpiEnvironment({ MV2_COMM_WORLD_RANK: '0', MV2_COMM_WORLD_SIZE: '2', MV2_COMM_WORLD_LOCAL_RANK: '0' }), {
    rank: 0,
    size: 2,
    localRank: 0,
    localSize: 2,
    source: 'MV2_COMM_WORLD_RANK',
  });
  t.is(mpiEnvironment({ OMPI_COMM_WORLD_RANK: '2', OMPI_COMM_WORLD_SIZE: '2' }), null, 'a rank outside the world is no MPI job');
});

test('a missing platform package: the npm install command at the same version (and the tarball)', (t) => {
  const advice = nativeLoadAdvice({ ...base, triple: 'linux-x64-gnu', cuda: false, attempts: missing('@densenet-sdk/linux-x64-gnu') });
  t.regex(advice, /^ {2}npm install @densenet-sdk\/linux-x64-gnu@0\.1\.0$/m);
  t.regex(advice, /--omit=optional/);
  t.regex(advice, /npm install \.\/densenet-sdk-linux-x64-gnu-0\.1\.0\.tgz/);
  t.notRegex(advice, /build:native/, 'an installed copy has no sources to build');
});

test('the CUDA package: installed explicitly', (t) => {
  const advice = nativeLoadAdvice({ ...base, triple: 'linux-x64-gnu', cuda: true, attempts: missing('@densenet-sdk/linux-x64-gnu-cuda') });
  t.regex(advice, /^ {2}npm install @densenet-sdk\/linux-x64-gnu-cuda@0\.1\.0$/m);
  t.regex(advice, /does not install by itself/);
  t.regex(advice, /DENSENET_CUDA/);
});

test('an installed package that fails to load (or has another version): reinstall at the same version', (t) => {
  const advice = nativeLoadAdvice({
    ...base,
    triple: 'linux-x64-gnu',
    cuda: false,
    attempts: [{ target: '@densenet-sdk/linux-x64-gnu', reason: 'version 0.0.9 is installed, densenet-sdk 0.1.0 needs the same version' }],
  });
  t.regex(advice, /is installed but did not load/);
  t.regex(advice, /npm install @densenet-sdk\/linux-x64-gnu@0\.1\.0/);
});

test('an unsupported platform: the list of supported ones and how to build from source', (t) => {
  const advice = nativeLoadAdvice({ ...base, triple: 'darwin-arm64', cuda: false, attempts: missing('@densenet-sdk/darwin-arm64') });
  t.regex(advice, /no prebuilt addon for darwin-arm64/);
  t.regex(advice, /Platforms with a prebuilt addon: linux-x64-gnu \(@densenet-sdk\/linux-x64-gnu\)/);
  t.regex(advice, /Building from source/);
  t.notRegex(advice, /npm install @densenet-sdk\/darwin-arm64/, 'no command for a package that does not exist');
});

test('a source checkout also names npm run build:native', (t) => {
  const advice = nativeLoadAdvice({ ...base, checkout: true, triple: 'linux-x64-gnu', cuda: false, attempts: missing('@densenet-sdk/linux-x64-gnu') });
  t.regex(advice, /npm run build:native` builds native\/densenet\.linux-x64-gnu\.node/);
});

test('the CUDA addon refused by the dynamic loader: the missing CUDA library or the old driver, named with its fix', (t) => {
  const addon = '/x/densenet.linux-x64-gnu-cuda.node';
  const driver = cudaLibraryProblem(addon, 'libcuda.so.1: cannot open shared object file: No such file or directory');
  t.regex(driver ?? '', /needs libcuda\.so\.1.*NVIDIA driver \(580 or newer/);
  t.true(driver!.includes(addon));
  for (const lib of ['libcublas.so.13', 'libcublasLt.so.13', 'libcurand.so.10', 'libcudart.so.13']) {
    const m = cudaLibraryProblem(addon, `${lib}: cannot open shared object file: No such file or directory`);
    t.regex(m ?? '', new RegExp(`needs ${lib.replace(/\./g, '\\.')}.*LD_LIBRARY_PATH`), lib);
  }
  t.regex(cudaLibraryProblem(addon, `${addon}: undefined symbol: cuCtxCreate_v4`) ?? '', /has no cuCtxCreate_v4.*older than CUDA 13.*580/);
  // Anything else stays a load failure of the addon (NativeLoadError with the attempts).
  t.is(cudaLibraryProblem(addon, 'libfoo.so.2: cannot open shared object file: No such file or directory'), undefined);
  t.is(cudaLibraryProblem(addon, `${addon}: invalid ELF header`), undefined);
  t.is(cudaLibraryProblem(addon, `${addon}: undefined symbol: napi_create_string_utf8`), undefined);
});
