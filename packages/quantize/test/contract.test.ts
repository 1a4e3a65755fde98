import { runCompressorContract, toyFixture } from '@edge-compress/core/testing';
import { quantize } from '../src/index.js';

// PTQ of every weighted layer, per output channel.
runCompressorContract(quantize, () => toyFixture([{ op_types: ['conv2d', 'dense'], quant_dtype: 'int8', quant_scheme: 'symmetric', granularity: 'out_channel' }], { mode: 'ptq' }));

// QAT (a few seeded steps) of two layers, mixed schemes: fc2 is untargeted and must stay bit-identical.
runCompressorContract(quantize, () =>
  toyFixture(
    [
      { op_names: ['conv1', 'fc1'], quant_dtype: 'int4', granularity: 'out_channel' },
      { op_names: ['conv1'], quant_dtype: 'uint8', quant_scheme: 'affine', granularity: 'default' },
    ],
    { mode: 'qat', qat_epochs: 1, batch_size: 64, activations: { bits: 8 } },
  ),
);
