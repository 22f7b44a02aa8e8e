/**
 * Losses and metrics. A loss maps (prediction, target) to a scalar tensor and must be twice
 * differentiable by tfjs for exact Hessians (Gauss-Newton needs its Hessian with respect to the
 * prediction only). "Sample" below means one index along the first (batch) axis; norms are
 * Euclidean over all the other axes.
 */
import * as tf from '@tensorflow/tfjs';

export type Loss = (prediction: tf.Tensor, target: tf.Tensor) => tf.Scalar;
export type Metric = Loss;

/** Mean squared error: mean over all elements of (prediction - target)^2. */
export const meanSquaredError: Loss = (p, t) => tf.mean(tf.squaredDifference(p, t)) as tf.Scalar;

function perSampleSquaredNorm(x: tf.Tensor): tf.Tensor {
  const axes = [...Array(x.rank).keys()].slice(1);
  return axes.length ? tf.sum(tf.square(x), axes) : tf.square(x);
}

/**
 * Mean squared relative error (paper eq. 6):
 *   (1/N) sum_i ||prediction_i - target_i||^2 / ||target_i||^2.
 */
export const meanSquaredRelativeError: Loss = (p, t) =>
  tf.mean(tf.div(perSampleSquaredNorm(tf.sub(p, t)), perSampleSquaredNorm(t))) as tf.Scalar;

/**
 * Mean relative error (paper eq. 7), the test metric:
 *   (1/N) sum_i ||prediction_i - target_i|| / ||target_i||.
 * Not meant to be differentiated (the norm's gradient is singular at a perfect fit).
 */
export const meanRelativeError: Metric = (p, t) =>
  tf.mean(tf.sqrt(tf.div(perSampleSquaredNorm(tf.sub(p, t)), perSampleSquaredNorm(t)))) as tf.Scalar;

export const losses = { mse: meanSquaredError, msre: meanSquaredRelativeError } as const;
export type LossName = keyof typeof losses;

export function resolveLoss(loss: Loss | LossName | undefined): Loss {
  if (loss === undefined) return meanSquaredError;
  if (typeof loss === 'function') return loss;
  const l = losses[loss];
  if (!l) throw new Error(`petscml: unknown loss '${String(loss)}'; expected ${Object.keys(losses).join(', ')} or a function`);
  return l;
}
