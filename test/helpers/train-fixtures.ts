/** Tiny models and recipes shared by the training tests (not a test file). */
import type { ModelConfig } from '../../ts/index.js';
import type { RecipeOptions } from '../../ts/train/index.js';
import { TINY } from './util.js';

/** A tiny grayscale DenseNet-BC with dropout (so that the dropout masks must resume too). */
export const CHILD_CONFIG: ModelConfig = { ...TINY, dropRate: 0.1, inChannels: 1 };

/** 4 epochs of batch 32, lr ÷ 10 at epochs 2 and 3, random shifts, 64 validation images. */
export const CHILD_RECIPE: RecipeOptions = {
  epochs: 4,
  batchSize: 32,
  lr: 0.1,
  validationSize: 64,
  seed: 5,
  augment: { crop: { padding: 2 } },
};
