import type * as tf from '@tensorflow/tfjs-core';
import type { Descriptor, PayloadReader, PayloadWriter } from './payload.js';
import type { Encoding, EncodingBase, SummaryNode } from './types.js';

/** Training of one node of an encoding tree (used by `trainThroughEncodings`). */
export interface TrainSpec<E extends EncodingBase> {
  /** Elementwise leaves: the fp32 values that train, one per element of `e.shape`. */
  leaf?: {
    init(e: E): Float32Array;
    /** What the forward sees from the trained tensor (e.g. fake quantization with a straight-through gradient). */
    effective(param: tf.Tensor, e: E): tf.Tensor;
    /** Re-encodes trained values with the same structure (same scheme, bits and scales). */
    rebuild(e: E, values: Float32Array): E;
  };
  /** Structured nodes: trainable arrays of the node itself besides its children (lowRank's s). */
  own?(e: E): Record<string, { values: Float32Array; shape: number[] }>;
  /** Constant tensors the node needs while it trains (masks, gather indices); created once, disposed by the caller. */
  consts?(e: E): Record<string, tf.Tensor>;
  /** The effective weight, a tensor of `e.shape`, from the children's effective tensors (child shapes) and own tensors. */
  assemble?(e: E, children: Record<string, tf.Tensor>, own: Record<string, tf.Tensor>, consts: Record<string, tf.Tensor>): tf.Tensor;
  /** The node rebuilt around re-encoded children and trained own arrays. */
  rebuild?(e: E, children: Record<string, Encoding>, own: Record<string, Float32Array>): E;
  /** Masks over elementwise children (masked: its base): their trained values are zeroed there after every step. */
  childMasks?(e: E): Record<string, Uint8Array>;
}

/**
 * One encoding kind: everything core needs to decode, count, summarise, save, load and train it. Define each
 * kind in one file with `defineEncoding`; core's kinds are in encodings/kinds/. A package that brings a kind
 * declares it on its compressor (`defineCompressor({ encodings: [myKind] })`) and `createRegistry` installs it.
 */
export interface EncodingDef<E extends EncodingBase = EncodingBase> {
  readonly kind: E['kind'];
  /** npm package that provides the kind (named in the error when a file uses a kind nobody registered). */
  readonly provider: string;
  readonly description: string;
  /**
   * true for kinds that store one value per element of `shape` (dense, quantized): they can sit under a mask
   * (written for kept entries only) and train elementwise.
   */
  readonly elementwise: boolean;
  /** Nested encodings by slot name (masked: base; lowRank: u, v; ...). */
  children(e: E): Record<string, Encoding>;
  withChildren(e: E, children: Record<string, Encoding>): E;
  /** The fp32 weight in tfjs layout, exactly as an inference engine sees it. */
  toDense(e: E): Float32Array;
  /** Bits of the node itself, excluding its children. Elementwise kinds get `kept`, the entries actually stored (all when undefined). */
  ownBits(e: E, kept?: number): number;
  /** Values stored by the node itself, excluding its children. */
  ownValues(e: E, kept?: number): number;
  /** Entries stored of each elementwise child when fewer than all (masked: its base keeps only the kept entries). */
  childKept?(e: E): Record<string, number>;
  /** Masks passed to elementwise children on write / read (masked: its mask). */
  childKeep?(e: E): Record<string, Uint8Array>;
  /** Node-specific summary fields (bits, scheme, block, nm, rank, view, factorShapes). */
  summary?(e: E): Partial<SummaryNode>;
  /** Writes the node; `child` writes a child (with an optional keep mask for elementwise children). */
  write(e: E, w: PayloadWriter, keep: Uint8Array | undefined, child: (slot: string, c: Encoding, keep?: Uint8Array) => Descriptor): Descriptor;
  /** Reads the node; `child` reads the descriptor at `d[slot]`. Check every field with `r.bad(path, …)`. */
  read(d: Descriptor, r: PayloadReader, path: string, keep: Uint8Array | undefined, child: (slot: string, keep?: Uint8Array) => Encoding): E;
  /** Structural checks of an encoding object (called by validateEncoding). */
  validate?(e: E, where: string): void;
  train?: TrainSpec<E>;
}

/** Makes an encoding kind (a frozen object). */
export function defineEncoding<E extends EncodingBase>(def: EncodingDef<E>): EncodingDef<E> {
  return Object.freeze({ ...def });
}
