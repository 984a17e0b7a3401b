/**
 * The optimizer side of the training loop: the optimizer of a fresh start and the schedule's
 * learning rate applied to it (with or without parameter groups).
 *
 * @internal
 * @module
 */
import type { DenseNet } from '../model.js';
import { learningRateAt, type TrainRecipe } from './options.js';

/**
 * The optimizer of a fresh start: the recipe's freeze, its settings and groups (momentum from zero).
 */
export function startOptimizer(model: DenseNet, recipe: TrainRecipe): void {
  model.setOptimizer({
    lr: learningRateAt(recipe, 0),
    momentum: recipe.momentum,
    nesterov: recipe.nesterov,
    weightDecay: recipe.weightDecay,
    groups: recipe.paramGroups,
  });
  if (recipe.freeze.length > 0) model.freeze(recipe.freeze);
  model.setLrFactor(1);
}

/**
 * Sets the schedule's lr `lr`. Without groups it is the optimizer's lr; with groups each group's
 * own lr is scaled by `lr / recipe.lr` (PyTorch's LambdaLR over param groups), the top level kept
 * at `recipe.lr`.
 */
export function applyLearningRate(model: DenseNet, recipe: TrainRecipe, lr: number): void {
  if (recipe.paramGroups.length === 0) {
    model.setLearningRate(lr);
    return;
  }
  model.setLearningRate(recipe.lr);
  model.setLrFactor(recipe.lr > 0 ? lr / recipe.lr : 1);
}
