import * as tf from '@tensorflow/tfjs-core';
import { defineKernel, type LayerKernel } from '@edge-compress/core';
import { reconstruct, type SmartDealEncoding } from './encoding.js';

export function isSmartDealEncoding(e: unknown): e is SmartDealEncoding {
  const o = e as Partial<SmartDealEncoding> | undefined;
  return !!o && o.kind === 'factorized' && o.layout?.kind === 'rowBlocks' && o.coeffs?.kind === 'masked' && o.coeffs.base.kind === 'quantized' && o.coeffs.base.scheme === 'pow2';
}

/**
 * The SmartDeal layer kernel: the weight is rebuilt once per prepare from the power-of-two coefficients by
 * exponent arithmetic and additions only (no multiplication touches C), then the layer runs as a stock conv2d /
 * matMul with the bias added. Output = pre-activation.
 */
export const smartDealKernel: LayerKernel = defineKernel({
  name: 'smartdeal-shift-add',
  kind: 'factorized',
  supports: (layer, e) => (layer.kind === 'conv2d' || layer.kind === 'dense') && isSmartDealEncoding(e),
  prepare(layer, enc, bias) {
    const e = enc as SmartDealEncoding;
    const w = tf.keep(tf.tensor(reconstruct(e), e.shape, 'float32'));
    const b = bias ? tf.keep(tf.tensor1d(bias, 'float32')) : undefined;
    return {
      run: (x) =>
        tf.tidy(() => {
          const y = layer.kind === 'conv2d' ? tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, layer.strides, layer.padding) : tf.matMul(x as tf.Tensor2D, w as tf.Tensor2D);
          return b ? tf.add(y, b) : y;
        }),
      dispose: () => tf.dispose(b ? [w, b] : [w]),
    };
  },
});
