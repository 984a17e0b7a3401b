/**
 * The public surface: what the package root exports (and what it does not), the documentation
 * categories of the typedoc sidebar, and the examples the key entry points carry.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import test from 'ava';

import * as sdk from '../ts/index.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const CATEGORIES = ['Model', 'Data', 'Training', 'Fine-tuning', 'Errors', 'CLI output', 'Native addon'];

test('internal helpers are not exported from the package root', (t) => {
  const internal = [
    // containers and formats
    'readTar', 'writeTar', 'unpickle', 'pyGet', 'readMat', 'parseCifarBinary', 'decodeCifarPythonBatch', 'parseSvhnMat',
    'decodeMnistAsset', 'MNIST_ASSET_PATH', 'md5File', 'downloadFile', 'extractTarGz', 'DATASET_SOURCES', 'DATASET_MD5',
    'missingDatasetError',
    // config and validation internals
    'checkConfigTypes', 'CONFIG_FIELDS', 'isPresetName', 'nativePresetNames', 'validateBatch', 'validateLabels', 'optimizerJson',
    'toDenseNetError', 'errorFromCode', 'callNative', 'callNativeAsync', 'packageRoot', 'platformTriple',
    // loop internals
    'writeFileAtomic', 'writeJsonAtomic', 'formatResultsCsv', 'writeResultsCsv', 'scheduleJson', 'autoNormalization', 'countTopK',
    'writeTenCrops', 'tempPathFor', 'niceTicks', 'isAbortErrorLike',
    // augmentation and loader internals
    'drawCropFlip', 'cropFlip', 'randomResizedCropBox', 'centerCropBox', 'writeSample', 'assertLoaderState', 'splitIndices',
    'normalizationTable', 'resolveNormalization', 'checkIndex', 'imageSize', 'Rng',
    'CIFAR_MEAN', 'CIFAR_STD', 'IMAGENET_MEAN', 'IMAGENET_STD',
  ];
  const exported = new Set(Object.keys(sdk));
  for (const name of internal) t.false(exported.has(name), `${name} is exported from the root`);
  // ...while the public API is.
  for (const name of ['DenseNet', 'Prediction', 'createConfig', 'cifarConfig', 'presetConfig', 'PRESET_NAMES', 'readWeightsInfo',
    'loadDataset', 'DataLoader', 'splitTrainValidation', 'downloadDataset', 'NORMALIZATION', 'train', 'evaluate',
    'evaluateTenCrop', 'loadTrainingData', 'plotResults', 'readResultsCsv', 'DenseNetError', 'AbortError', 'DataError',
    'InternalError', 'ERROR_CODES', 'loadNative', 'setNumThreads', 'imagesToTensor']) {
    t.true(exported.has(name), `${name} is missing from the root`);
  }
});

/** `[name, module file]` of every export of ts/index.ts. */
function rootExports(): [string, string][] {
  const index = readFileSync(join(root, 'ts/index.ts'), 'utf8');
  const out: [string, string][] = [];
  for (const m of index.matchAll(/export (?:type )?\{([^}]*)\} from '([^']+)';/g)) {
    const file = join(root, 'ts', m[2]!.replace(/\.js$/, '.ts'));
    for (const raw of m[1]!.split(',')) {
      const name = raw.replace(/\btype\b/, '').trim();
      if (name) out.push([name, file]);
    }
  }
  return out;
}

/** The doc comment right before the first top-level declaration of `name` in `source`. */
function docOf(source: string, name: string): string | undefined {
  const decl = new RegExp(`^export (?:declare )?(?:async )?(?:function|class|interface|type|const) ${name}\\b`, 'm').exec(source);
  if (!decl) return undefined;
  const before = source.slice(0, decl.index).trimEnd();
  if (!before.endsWith('*/')) return '';
  return before.slice(before.lastIndexOf('/**'));
}

test('every root export is documented in one of the sidebar categories', (t) => {
  const exports = rootExports();
  t.true(exports.length > 100);
  for (const [name, file] of exports) {
    const doc = docOf(readFileSync(file, 'utf8'), name);
    t.truthy(doc, `${name} (${file}) has a doc comment`);
    const cat = /@category (.+)$/m.exec(doc ?? '')?.[1]?.trim();
    t.true(cat !== undefined && CATEGORIES.includes(cat), `${name}: category ${String(cat)}`);
  }
  const typedoc = JSON.parse(readFileSync(join(root, 'typedoc.json'), 'utf8')) as {
    categorizeByGroup: boolean;
    navigation: { includeCategories: boolean };
    categoryOrder: string[];
  };
  t.false(typedoc.categorizeByGroup);
  t.true(typedoc.navigation.includeCategories);
  for (const c of CATEGORIES) t.true(typedoc.categoryOrder.includes(c), c);
});

test('evaluate, loadDataset, loadTrainingData, createConfig, Prediction and predictImages have an @example', (t) => {
  const read = (f: string): string => readFileSync(join(root, 'ts', f), 'utf8');
  for (const [name, file] of [
    ['evaluate', 'train/evaluate.ts'],
    ['loadDataset', 'data/registry.ts'],
    ['loadTrainingData', 'train/data.ts'],
    ['createConfig', 'config.ts'],
    ['Prediction', 'model/prediction.ts'],
  ] as const) {
    t.regex(docOf(read(file), name) ?? '', /@example/, name);
  }
  const model = read('model.ts');
  const at = model.indexOf('  async predictImages(');
  const doc = model.slice(model.lastIndexOf('/**', at), at);
  t.regex(doc, /@example/, 'predictImages');
});
