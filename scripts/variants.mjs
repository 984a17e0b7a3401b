// The variants `npm run build` builds (scripts/build-all.mjs) and `npm test` checks
// (scripts/run-tests.mjs): the npm script that builds each, the file it must leave, and whether an
// install may go on without it.
const triple = process.platform === 'linux' && process.arch === 'x64' ? 'linux-x64-gnu' : `${process.platform}-${process.arch}`;

export const VARIANTS = [
  { name: 'native', script: 'build:native', required: true, artifact: `native/densenet.${triple}.node`, describe: `the native addon, native/densenet.${triple}.node` },
  { name: 'ts', script: 'build:ts', required: true, artifact: 'dist/index.js', describe: 'the TypeScript SDK and CLI, dist/ (ESM) and dist/cjs/' },
  { name: 'mpi', script: 'build:native:mpi', required: false, artifact: `native/densenet.${triple}-mpi.node`, describe: `the MPI addon, native/densenet.${triple}-mpi.node` },
  { name: 'wasm', script: 'build:wasm', required: false, artifact: 'npm/wasm32/web/densenet_wasm_bg.wasm', describe: 'the WASM package, npm/wasm32 (node/ and web/)' },
  { name: 'cuda', script: 'build:cuda', required: false, artifact: `native/densenet.${triple}-cuda.node`, describe: `the CUDA addon, native/densenet.${triple}-cuda.node` },
];
