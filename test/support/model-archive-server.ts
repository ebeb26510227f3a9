/**
 * Test doubles for `carevox models`: a small model archive built on the spot (system tar + bzip2, the same
 * format as the sherpa-onnx releases) and a local HTTP file server that honours Range requests and can drop
 * the connection part-way, like a flaky clinic uplink.
 */
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import WaveFilePackage from 'wavefile';
import type { ModelEntry } from '../../src/models/manifest.js';

const { WaveFile } = WaveFilePackage;

export interface BuiltModel {
  /** Directory containing ROOT/ with the model files. */
  sourceDir: string;
  root: string;
  archive: string;
  sha256: string;
  size: number;
  entry: ModelEntry;
}

/**
 * A fake streaming-ASR model NAME: random "onnx" files (one big enough that a download can be cut in the
 * middle), tokens.txt, and two test recordings of different lengths with their transcripts.
 */
export function buildModelArchive(workDir: string, name = 'tiny-test-model'): BuiltModel {
  const sourceDir = join(workDir, 'src');
  const root = join(sourceDir, name);
  mkdirSync(join(root, 'test_wavs'), { recursive: true });
  writeFileSync(join(root, 'encoder.int8.onnx'), randomBytes(600_000));
  writeFileSync(join(root, 'decoder.onnx'), randomBytes(2_000));
  writeFileSync(join(root, 'joiner.int8.onnx'), randomBytes(2_000));
  writeFileSync(join(root, 'tokens.txt'), '<blk> 0\na 1\n');
  writeWav(join(root, 'test_wavs', '0.wav'), 16000, 16000); // 1.0 s at 16 kHz
  writeWav(join(root, 'test_wavs', '1.wav'), 16000, 8000); // 0.5 s
  const archive = join(workDir, `${name}.tar.bz2`);
  execFileSync('tar', ['-cjf', archive, '-C', sourceDir, name]);
  const bytes = readFileSync(archive);
  return {
    sourceDir, root, archive,
    sha256: createHash('sha256').update(bytes).digest('hex'),
    size: bytes.length,
    entry: {
      name, aliases: ['tiny'], kind: 'asr-streaming-transducer', description: 'test model', licence: 'Apache-2.0',
      url: 'http://127.0.0.1:9/unused.tar.bz2', sha256: null, size: bytes.length, archiveRoot: name,
      files: { encoder: 'encoder.int8.onnx', decoder: 'decoder.onnx', joiner: 'joiner.int8.onnx', tokens: 'tokens.txt' },
      tests: [
        { wav: 'test_wavs/0.wav', text: 'HELLO THERE ONE SECOND' },
        { wav: 'test_wavs/1.wav', text: 'HALF A SECOND' },
      ],
    },
  };
}

function writeWav(path: string, rate: number, length: number): void {
  mkdirSync(dirname(path), { recursive: true });
  const samples = Int16Array.from({ length }, (_, i) => Math.round(5000 * Math.sin(i / 9)));
  const wav = new WaveFile();
  wav.fromScratch(1, rate, '16', samples);
  writeFileSync(path, wav.toBuffer());
}

export interface FileServerDouble {
  url: string;
  /** Range header (or null) of every request, in order. */
  requests: Array<{ range: string | null }>;
  close(): Promise<void>;
}

export interface FileServerBehaviour {
  /** Cut the connection after this many body bytes on the first N requests. */
  dropAfterBytes?: number;
  dropTimes?: number;
  /** Answer 200 with the whole file even when a Range is asked for. */
  ignoreRange?: boolean;
  status?: number;
  /** Called as each request arrives, before anything is answered (tests look at the client's state then). */
  onRequest?(range: string | null): void;
}

export async function startFileServer(file: string, behaviour: FileServerBehaviour = {}): Promise<FileServerDouble> {
  const body = readFileSync(file);
  const requests: FileServerDouble['requests'] = [];
  let drops = 0;
  const server: Server = createServer((req, res) => {
    const range = req.headers.range ?? null;
    requests.push({ range });
    behaviour.onRequest?.(range);
    if (behaviour.status) {
      res.writeHead(behaviour.status).end('nope');
      return;
    }
    let start = 0;
    const match = range?.match(/^bytes=(\d+)-$/);
    if (match && !behaviour.ignoreRange) {
      start = Number(match[1]);
      if (start >= body.length) {
        res.writeHead(416, { 'content-range': `bytes */${body.length}` }).end();
        return;
      }
      res.writeHead(206, { 'content-length': body.length - start, 'content-range': `bytes ${start}-${body.length - 1}/${body.length}` });
    } else {
      res.writeHead(200, { 'content-length': body.length, 'accept-ranges': 'bytes' });
    }
    const slice = body.subarray(start);
    if (behaviour.dropAfterBytes !== undefined && drops < (behaviour.dropTimes ?? 1)) {
      drops++;
      res.write(slice.subarray(0, behaviour.dropAfterBytes), () => setTimeout(() => res.socket?.destroy(), 20));
      return;
    }
    res.end(slice);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/models/${file.split('/').pop()}`,
    requests,
    close: () => new Promise((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}
