/**
 * Builds a tiny but valid streaming transducer that sherpa-onnx's `OnlineRecognizer` loads and decodes with
 * (model_type "lstm", the simplest streaming transducer sherpa supports), so the sherpa engine is exercised
 * end to end against the real addon without downloading weights. It is not speech recognition: it
 * "hears" loudness.
 *
 *   encoder: encoder_out = x[:, ::4, :]      (80-dim log-mel frames, subsampled 4x like a real encoder;
 *            the LSTM states h, c pass through unchanged)
 *   decoder: decoder_out = 0                 ([N, 80])
 *   joiner:  logit = [0, mean(encoder_out) - LOUDNESS_THRESHOLD]
 *
 * so greedy search emits token 1 ("▁LOUD") once per 40 ms encoder frame whose mean log-mel energy is above
 * the threshold, and blank otherwise: a tone decodes as "LOUD LOUD ...", digital silence as "".
 * The ONNX protobuf is written by hand (a dozen message types); no npm package here builds ONNX graphs.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  concat, FLOAT, floatTensor, INT64, int64Tensor, intAttribute, intField, msg, node, strField, valueInfo, type Field,
} from './onnx-writer.js';

/** Mean log-mel energy above which a frame counts as loud (digital silence is about -15.9, a -15 dBFS tone about +1). */
export const TINY_TRANSDUCER_LOUDNESS_THRESHOLD = -6;
/** Encoder frames per chunk (T = decode_chunk_len, no right context) and the subsampling. */
const CHUNK_FRAMES = 16;
const SUBSAMPLING = 4;
const FEATURE_DIM = 80;
const LAYERS = 1;
const D_MODEL = 4;
const HIDDEN = 4;

export type TinyTransducerFiles = { encoder: string; decoder: string; joiner: string; tokens: string };

export function writeTinyTransducerModel(dir: string, threshold = TINY_TRANSDUCER_LOUDNESS_THRESHOLD): TinyTransducerFiles {
  mkdirSync(dir, { recursive: true });
  const files = {
    encoder: 'encoder-tiny.onnx', decoder: 'decoder-tiny.onnx', joiner: 'joiner-tiny.onnx', tokens: 'tokens.txt',
  };
  writeFileSync(join(dir, files.encoder), encoderModel());
  writeFileSync(join(dir, files.decoder), decoderModel());
  writeFileSync(join(dir, files.joiner), joinerModel(threshold));
  writeFileSync(join(dir, files.tokens), '<blk> 0\n▁LOUD 1\n');
  return files;
}

function encoderModel(): Uint8Array {
  const graph = msg(7,
    node('Slice', ['x', 'starts', 'ends', 'axes', 'steps'], ['encoder_out']),
    node('Identity', ['h'], ['next_h']),
    node('Identity', ['c'], ['next_c']),
    strField(2, 'tiny-lstm-encoder'),
    int64Tensor('starts', [1], [0]),
    int64Tensor('ends', [1], [1_000_000]),
    int64Tensor('axes', [1], [1]),
    int64Tensor('steps', [1], [SUBSAMPLING]),
    valueInfo(11, 'x', FLOAT, ['N', CHUNK_FRAMES, FEATURE_DIM]),
    valueInfo(11, 'h', FLOAT, [LAYERS, 'N', D_MODEL]),
    valueInfo(11, 'c', FLOAT, [LAYERS, 'N', HIDDEN]),
    valueInfo(12, 'encoder_out', FLOAT, ['N', 'T', FEATURE_DIM]),
    valueInfo(12, 'next_h', FLOAT, [LAYERS, 'N', D_MODEL]),
    valueInfo(12, 'next_c', FLOAT, [LAYERS, 'N', HIDDEN]),
  );
  return model(graph, {
    model_type: 'lstm', num_encoder_layers: String(LAYERS), T: String(CHUNK_FRAMES),
    decode_chunk_len: String(CHUNK_FRAMES), rnn_hidden_size: String(HIDDEN), d_model: String(D_MODEL),
  });
}

function decoderModel(): Uint8Array {
  const graph = msg(7,
    node('Cast', ['y'], ['y_float'], intAttribute('to', FLOAT)),
    node('MatMul', ['y_float', 'zeros'], ['decoder_out']),
    strField(2, 'tiny-decoder'),
    floatTensor('zeros', [2, FEATURE_DIM], new Array(2 * FEATURE_DIM).fill(0)),
    valueInfo(11, 'y', INT64, ['N', 2]),
    valueInfo(12, 'decoder_out', FLOAT, ['N', FEATURE_DIM]),
  );
  return model(graph, { context_size: '2', vocab_size: '2' });
}

function joinerModel(threshold: number): Uint8Array {
  // Column 0 (blank) stays 0; column 1 is the mean over the 80 dims.
  const weights: number[] = [];
  for (let i = 0; i < FEATURE_DIM; i++) weights.push(0, 1 / FEATURE_DIM);
  const graph = msg(7,
    node('Add', ['encoder_out', 'decoder_out'], ['joined']),
    node('MatMul', ['joined', 'weights'], ['projected']),
    node('Add', ['projected', 'bias'], ['logit']),
    strField(2, 'tiny-joiner'),
    floatTensor('weights', [FEATURE_DIM, 2], weights),
    floatTensor('bias', [2], [0, -threshold]),
    valueInfo(11, 'encoder_out', FLOAT, ['N', FEATURE_DIM]),
    valueInfo(11, 'decoder_out', FLOAT, ['N', FEATURE_DIM]),
    valueInfo(12, 'logit', FLOAT, ['N', 2]),
  );
  return model(graph, {});
}

function model(graph: Field, metadata: Record<string, string>): Uint8Array {
  return concat([
    intField(1, 8), // ir_version 8
    strField(2, 'carevox-test'),
    graph,
    msg(8, strField(1, ''), intField(2, 13)), // opset 13
    ...Object.entries(metadata).map(([k, v]) => msg(14, strField(1, k), strField(2, v))),
  ]);
}

