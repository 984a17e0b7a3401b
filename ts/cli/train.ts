/**
 * `densenet train`: trains a DenseNet with the paper's recipe, with a progress bar (TTY), one plain
 * line per epoch (no TTY) or one JSON line per epoch (`--json`), resumable checkpoints and Ctrl-C
 * handling. With no arguments it trains a small DenseNet-BC on the embedded MNIST digits.
 *
 * This file registers the command and its options; their type, parsers and stored copy are
 * `train-options.ts`, the run `train-run.ts`, the output `train-output.ts`.
 *
 * @module
 */
import { Option, type Command } from 'commander';

import { MEMORY_MODES } from '../model.js';
import { TRAIN_DATASET_NAMES } from '../train/data.js';
import { parseDevice, parseNumberList, parsePositiveInt } from './common.js';
import { parseNonNegInt, parseNonNegNumber, parseSpecList, type TrainCommandOptions } from './train-options.js';
import { runTrain } from './train-run.js';

// For the modules that import them from here.
export { CLI_OPTIONS_FILE, type TrainCommandOptions } from './train-options.js';
export { epochJson, formatEpochLine, resultJson } from './train-output.js';
export { runTrain } from './train-run.js';

/**
 * Registers the `train` command.
 *
 * @param program - the root command
 */
export function registerTrain(program: Command): Command {
  const cmd = program
    .command('train')
    .showHelpAfterError('(densenet train --help lists the options)')
    .description(
      'train a DenseNet with the paper\'s recipe (SGD, Nesterov 0.9, wd 1e-4, batch 64, lr 0.1 ÷10 at 50%/75%).\n' +
        'With no options: a small DenseNet-BC on the embedded MNIST digits (8,000 train / 2,000 test), a few minutes on 2 cores.\n' +
        'CPU threads: the global option, e.g. `densenet train --threads 4`.',
    )
    .addOption(new Option('--dataset <name>', 'data set').choices(TRAIN_DATASET_NAMES as string[]).default('mnist'))
    .option('--data <dir>', 'data root (cifar10/cifar100/svhn; default $DENSENET_DATA or ~/.cache/densenet/data), or the image folder (DIR/train, DIR/val)')
    .option('--download', 'download a missing data set (CIFAR, SVHN)')
    .option('--preset <name>', 'model preset (default: densenet-bc-100; for mnist a small DenseNet-BC)')
    .option('--config <preset|file>', 'model config JSON file (or preset name)')
    .option('--epochs <n>', 'epochs (default 300; svhn 40; mnist 15; folder 90)', parsePositiveInt)
    .option('--batch-size <n>', 'mini-batch size (default 64; under mpirun the global batch, split between the processes)', parsePositiveInt)
    .option('--eval-batch-size <n>', 'mini-batch size of validation/test passes (default: --batch-size)', parsePositiveInt)
    .option('--lr <x>', 'initial learning rate (default 0.1)', parseNonNegNumber)
    .option('--momentum <x>', 'momentum (default 0.9)', parseNonNegNumber)
    .option('--nesterov', 'Nesterov momentum (default)')
    .option('--no-nesterov', 'plain momentum')
    .option('--weight-decay <x>', 'weight decay (default 1e-4)', parseNonNegNumber)
    .addOption(new Option('--schedule <name>', 'lr schedule (default multistep; mnist cosine)').choices(['multistep', 'cosine']))
    .option('--milestones <list>', 'multistep milestones in epochs, e.g. 150,225 (default 50% and 75% of the epochs)', parseNumberList)
    .option('--gamma <x>', 'multistep factor (default 0.1)', parseNonNegNumber)
    .option('--validation-size <n>', 'training images held out for validation (default 5000; mnist 1000; folder 0)', parseNonNegInt)
    .option('--augment', 'data augmentation: crop + flip (CIFAR), shifts (MNIST, SVHN), random-resized crop + flip (folder)')
    .option('--no-augment', 'no data augmentation (default for svhn)')
    .option('--seed <n>', 'seed of the weights, the validation split, the batch order and the augmentation (default 0)', parseNonNegInt)
    .addOption(new Option('--dtype <dtype>', 'weight precision (default f32)').choices(['f32', 'f64']))
    .addOption(new Option('--memory-mode <mode>', 'efficient (default) or naive').choices(MEMORY_MODES as string[]))
    .option('--device <device>', 'cpu (default), cuda or cuda:N (the CUDA build of the addon)', parseDevice)
    .option('--image-size <n>', 'image folders: input size (default 224, or 32 for CIFAR-style models)', parsePositiveInt)
    .option('--out <dir>', 'output directory (default runs/<dataset>)')
    .option('--resume', 'continue the run in --out from its checkpoint (options default to the stored ones)')
    .option('--force', 'start over even if --out holds a run')
    .option('--json', 'print one JSON line per epoch (and a final result line) instead of text')
    .option('--sync-bn', 'under mpirun: batch-norm statistics over the global batch (default: per process)')
    .option('--init-from <weights>', 'fine-tune: start from these weights (.safetensors, or PyTorch .pth with --preset); a new classifier when the class count differs')
    .option('--freeze <list>', 'fine-tune: freeze these from the start: stages (stem, block1.., transition1.., norm5, features, classifier) or name prefixes, comma-separated', parseSpecList)
    .option('--backbone-lr <x>', 'fine-tune: initial lr of the feature extractor (the classifier keeps --lr); the schedule scales both', parseNonNegNumber)
    .option('--unfreeze-at <epoch>', 'fine-tune: the --freeze parameters train again after this many epochs', parsePositiveInt)
    .addOption(new Option('--limit <n>', 'use only N training (and at most N test) images').argParser(parsePositiveInt).hideHelp())
    .action(async (_opts: TrainCommandOptions, command: Command) => {
      const all = command.optsWithGlobals<TrainCommandOptions>();
      await runTrain(all, (key) => {
        const src = command.getOptionValueSource(key);
        return src === 'cli' || src === 'env';
      });
    });
  return cmd;
}
