/**
 * Running `densenet train`: options (restored on `--resume`), data and model, the training loop
 * with Ctrl-C handling, and the output.
 *
 * @module
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';

import { createConfig } from '../config.js';
import { distributedWorld } from '../distributed.js';
import { InvalidArgumentError } from '../errors.js';
import { DenseNet } from '../model.js';
import { loadTrainingData, TRAIN_DATASET_NAMES, type TrainingData } from '../train/data.js';
import { makeDirectory, writeJsonAtomic } from '../train/io.js';
import { TrainAbortError, train, trainPaths, type TrainEvent, type TrainOptions, type TrainResult } from '../train/train.js';
import { resolveRecipe } from '../train/options.js';
import { readWeightsInfo } from '../weights.js';
import { callNative, loadNative, setNumThreads } from '../native.js';
import { resolveConfigArg } from './common.js';
import { epochTableHeader, formatDuration, formatInt, pct, plural } from './format.js';
import { displayPath, LAST_RUN_FILE, recordLastRun } from './last-run.js';
import { CLI_OPTIONS_FILE, STORED_KEYS, readStoredOptions, type TrainCommandOptions } from './train-options.js';
import { describeModel, epochJson, fineTuneLines, formatEpochLine, Reporter, resultJson } from './train-output.js';

/**
 * Runs `densenet train`.
 *
 * @param given - parsed options
 * @param fromCli - which options were given on the command line (the others may come from a resumed run)
 * @returns the training result (`aborted: true` after Ctrl-C; the exit code is then 130)
 */
export async function runTrain(given: TrainCommandOptions, fromCli: (key: string) => boolean = () => true): Promise<TrainResult> {
  let opts: TrainCommandOptions = { ...given };
  const outDir = resolve(opts.out ?? join('runs', opts.dataset));
  const paths = trainPaths(outDir);
  if (opts.resume) {
    if (!existsSync(paths.checkpoint)) {
      throw new InvalidArgumentError(`--resume: ${outDir} holds no training run to resume (no ${paths.checkpoint}); start it without --resume`);
    }
    const stored = readStoredOptions(outDir);
    for (const key of STORED_KEYS) {
      if (!fromCli(key) && stored[key] !== undefined) (opts as unknown as Record<string, unknown>)[key] = stored[key];
    }
  } else if (existsSync(paths.checkpoint) && !opts.force) {
    throw new InvalidArgumentError(
      `${outDir} already holds a training run; continue it with --resume, start over with --force, or choose another --out DIR`,
    );
  }
  if (opts.preset && opts.config) throw new InvalidArgumentError('give either --preset or --config, not both');
  if (!TRAIN_DATASET_NAMES.includes(opts.dataset)) {
    throw new InvalidArgumentError(`unknown dataset "${opts.dataset}"; known: ${TRAIN_DATASET_NAMES.join(', ')}`);
  }

  // Option checks before any data is read or any folder is touched: the optimizer values
  // (validated by the native core) and the thread count.
  const optimizer = Object.fromEntries((['lr', 'momentum', 'nesterov', 'weightDecay'] as const).filter((k) => opts[k] !== undefined).map((k) => [k, opts[k]]));
  callNative(() => loadNative().normalizeOptimizer(JSON.stringify(optimizer)));
  if (opts.threads !== undefined) setNumThreads(opts.threads);

  // Model config first (an image folder's input size follows the model's stem), then the data.
  const modelArg = opts.preset ?? opts.config;
  // --init-from: its header is read now (a missing or broken file is refused before any data is read).
  const init = opts.initFrom !== undefined ? readWeightsInfo(opts.initFrom) : null;
  if (init && !modelArg && !init.config) {
    throw new InvalidArgumentError(
      `--init-from ${opts.initFrom}: the file stores no model config (${init.format === 'safetensors' ? 'a safetensors file without densenet.config' : 'a PyTorch file'}); name its architecture with --preset (e.g. densenet121) or --config`,
    );
  }
  const base = modelArg ? resolveConfigArg(modelArg).config : (init?.config ?? null);
  const imageSize = opts.imageSize ?? init?.preprocessing?.inputSize[0] ?? (base?.smallInputs ? 32 : 224);
  const data: TrainingData = await loadTrainingData(opts.dataset, {
    ...(opts.data !== undefined ? { root: opts.data } : {}),
    ...(opts.download ? { download: true } : {}),
    imageSize,
    ...(opts.limit !== undefined ? { limit: opts.limit } : {}),
  });
  const d = data.defaults;
  const config = createConfig(base ?? d.model, { numClasses: data.numClasses, inChannels: data.channels });
  const modelName = opts.preset ?? opts.config ?? (typeof d.model === 'string' ? d.model : `default ${data.name} model`);

  const modelOptions = { dtype: opts.dtype ?? 'f32', ...(opts.device ? { device: opts.device } : {}) } as const;
  let model: DenseNet;
  if (init && opts.initFrom !== undefined) {
    const inputChannels = init.tensorShapes['features.conv0.weight']?.[1];
    if (inputChannels !== undefined && inputChannels !== data.channels) {
      throw new InvalidArgumentError(
        `--init-from ${opts.initFrom}: its weights take ${plural(inputChannels, 'input channel')}, the ${data.name} images have ${data.channels}`,
      );
    }
    // The features and BN statistics of the file; a new classifier (seeded by --seed) when the class count differs.
    model = await DenseNet.load(opts.initFrom, config, { ...modelOptions, numClasses: data.numClasses, headSeed: opts.seed ?? 0 });
  } else {
    model = DenseNet.create(config, { ...modelOptions, seed: opts.seed ?? 0 });
  }
  if (opts.memoryMode) model.setMemoryMode(opts.memoryMode);
  if (opts.threads !== undefined) model.setThreads(opts.threads);

  const epochs = opts.epochs ?? d.epochs;
  const augment = opts.augment ?? data.augmentByDefault;
  // Under mpirun every rank runs this command; rank 0 prints and writes the files.
  const lead = (distributedWorld()?.rank ?? 0) === 0;
  const reporter = new Reporter(!!opts.json, !lead);

  const trainOptions: TrainOptions = {
    trainSet: data.train,
    testSet: data.test,
    outDir,
    epochs,
    schedule: opts.schedule ?? d.schedule,
    ...(opts.lr !== undefined ? { lr: opts.lr } : {}),
    ...(opts.milestones !== undefined
      ? { milestones: opts.milestones }
      : d.milestoneFractions && (opts.schedule ?? d.schedule) === 'multistep'
        ? { milestones: d.milestoneFractions.map((f) => f * epochs) }
        : {}),
    // The data set's default hold-out, or a tenth of the images for small subsets (--limit).
    validationSize: opts.validationSize ?? (d.validationSize < data.train.length / 2 ? d.validationSize : Math.floor(data.train.length / 10)),
    augment: augment ? data.augmentation : false,
    normalization: data.normalization,
    seed: opts.seed ?? 0,
    resume: !!opts.resume,
    ...(opts.syncBn ? { syncBatchNorm: true } : {}),
    // Under mpirun train() splits the cores between the ranks of a node unless told otherwise.
    ...(opts.threads !== undefined ? { threads: opts.threads } : {}),
    ...(opts.batchSize !== undefined ? { batchSize: opts.batchSize } : {}),
    ...(opts.evalBatchSize !== undefined ? { evalBatchSize: opts.evalBatchSize } : {}),
    ...(opts.momentum !== undefined ? { momentum: opts.momentum } : {}),
    ...(opts.nesterov !== undefined ? { nesterov: opts.nesterov } : {}),
    ...(opts.weightDecay !== undefined ? { weightDecay: opts.weightDecay } : {}),
    ...(opts.gamma !== undefined ? { gamma: opts.gamma } : {}),
    ...(opts.freeze !== undefined ? { freeze: opts.freeze } : {}),
    ...(opts.unfreezeAt !== undefined ? { unfreezeAt: opts.unfreezeAt } : {}),
    ...(opts.backboneLr !== undefined ? { paramGroups: [{ name: 'backbone', prefixes: ['features'], lr: opts.backboneLr }] } : {}),
  };
  // The recipe's checks that need the data (validation size, milestones against the epochs) come
  // before the output folder is created.
  resolveRecipe(trainOptions, data.train, false);

  if (lead) {
    makeDirectory(outDir);
    writeJsonAtomic(
      join(outDir, CLI_OPTIONS_FILE),
      Object.fromEntries(STORED_KEYS.filter((k) => opts[k] !== undefined).map((k) => [k, opts[k]])),
    );
  }

  let recorded = false;
  const ac = new AbortController();
  let interrupts = 0;
  const onSigint = (): void => {
    interrupts++;
    if (interrupts === 1) {
      reporter.warn('interrupted: stopping after this batch and writing a checkpoint (Ctrl-C again to quit now)');
      ac.abort();
    } else {
      process.exit(130);
    }
  };
  process.on('SIGINT', onSigint);
  process.on('SIGTERM', onSigint);

  const onEvent = (e: TrainEvent): void => {
    switch (e.type) {
      case 'start': {
        const parts = [
          `${modelName}: ${describeModel(config)}, ${formatInt(model.parameterCount)} parameters`,
          `data ${data.name}: ${formatInt(e.trainSize)} train / ${formatInt(e.validationSize)} valid / ${formatInt(e.testSize)} test`,
          `${plural(e.recipe.epochs, 'epoch')}, batch ${e.recipe.batchSize}, lr ${e.recipe.lr} ${e.recipe.schedule}` +
            (e.recipe.schedule === 'multistep' ? ` (÷${Math.round(1 / e.recipe.gamma)} at ${e.recipe.milestones.join(', ')})` : '') +
            `, ${e.recipe.nesterov ? 'Nesterov ' : ''}momentum ${e.recipe.momentum}, wd ${e.recipe.weightDecay}, augment ${augment ? 'on' : 'off'}`,
          ...fineTuneLines(opts, e.recipe, model),
          `output ${displayPath(e.outDir)}` + (e.resumed ? ` (resumed at epoch ${e.startEpoch + 1}, batch ${e.startBatch})` : ''),
        ];
        reporter.info(parts.join('\n'));
        reporter.info(epochTableHeader(e.recipe.epochs));
        break;
      }
      case 'batch':
        reporter.batch(e);
        break;
      case 'evaluate':
        reporter.evaluating(e.set, e.done, e.total);
        break;
      case 'epoch':
        reporter.info(formatEpochLine(e));
        reporter.json(epochJson(e));
        if (!recorded) {
          // best.safetensors exists now: this run's model becomes the default of eval and predict.
          recorded = true;
          try {
            recordLastRun({ outDir, dataset: opts.dataset, ...(opts.data !== undefined ? { data: opts.data } : {}) });
          } catch (err) {
            // Training goes on; only the default of eval/predict is missing.
            reporter.warn(`warning: could not record this run in ${LAST_RUN_FILE} (${(err as Error).message}); eval and predict will need --model`);
          }
        }
        break;
      case 'warning':
        reporter.warn(e.message);
        break;
      case 'unfreeze':
        reporter.info(`epoch ${e.epoch + 1}: ${e.specs.join(', ')} train again; ${formatInt(e.trainableParameters)} trainable parameters`);
        break;
      default:
        break;
    }
  };

  let result: TrainResult;
  try {
    result = await train(model, { ...trainOptions, signal: ac.signal, onEvent });
  } catch (err) {
    if (!(err instanceof TrainAbortError)) throw err;
    result = err.result;
  } finally {
    reporter.close();
    process.off('SIGINT', onSigint);
    process.off('SIGTERM', onSigint);
  }

  reporter.json(resultJson(result, outDir));
  const time =
    result.totalSeconds - result.seconds > 0.005
      ? `${formatDuration(result.totalSeconds)} in all (this session ${formatDuration(result.seconds)})`
      : formatDuration(result.seconds);
  if (result.aborted) {
    const done = result.epochsCompleted;
    reporter.warn(
      `stopped after ${plural(done, 'complete epoch')} of ${result.epochs} (${time}); checkpoint ${displayPath(result.paths.checkpoint)}\n` +
        `continue with: densenet train --resume --out ${displayPath(outDir)}`,
    );
    process.exitCode = 130;
  } else {
    const b = result.best;
    reporter.info(
      [
        b
          ? `best epoch ${b.epoch}` +
            (b.validError !== null ? `: valid error ${pct(b.validError)}` : ' (no validation set: the last epoch)') +
            (b.testError !== null ? `, test error ${pct(b.testError)} (accuracy ${((1 - b.testError) * 100).toFixed(2)}%)` : '')
          : 'no epoch completed',
        `${plural(result.epochsCompleted, 'epoch')} in ${time}, ${formatInt(result.imagesPerSecond)} img/s, ` +
          `waiting for data ${(result.dataShare * 100).toFixed(2)}% of step time`,
        `files in ${displayPath(outDir)}: results.csv, best.safetensors (the default of eval/predict), final.safetensors`,
      ].join('\n'),
    );
  }
  return result;
}
