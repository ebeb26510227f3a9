import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { buildModelArchive, startFileServer, type BuiltModel, type FileServerDouble } from '../../test/support/model-archive-server.js';
import { downloadWithResume, DownloadError, formatProgress, sha256File, type DownloadProgress } from './download.js';
import { ChecksumMismatchError, installModel, ModelInstallError, UnverifiedArchiveError } from './install.js';

let work = '';
let model: BuiltModel;
let server: FileServerDouble | null = null;

function setup(): void {
  work = mkdtempSync(join(tmpdir(), 'carevox-models-'));
  model = buildModelArchive(work);
}
async function teardown(): Promise<void> {
  await server?.close();
  server = null;
  rmSync(work, { recursive: true, force: true });
}

// ---------------------------------------------------------------------------------------------------------
const download = suite('resumable download (local HTTP server)');
download.before.each(setup);
download.after.each(teardown);

download('downloads whole, reporting progress up to the total', async () => {
  server = await startFileServer(model.archive);
  const progress: DownloadProgress[] = [];
  const dest = join(work, 'a.tar.bz2');
  const result = await downloadWithResume({ url: server.url, dest, onProgress: (p) => progress.push(p) });
  assert.is(result.bytes, model.size);
  assert.equal(result.attempts, [0]);
  assert.is(await sha256File(dest), model.sha256);
  assert.is(progress[progress.length - 1]!.received, model.size);
  assert.is(progress[progress.length - 1]!.total, model.size);
  assert.not.ok(existsSync(`${dest}.partial`));
  assert.match(formatProgress({ received: 50, total: 100, resumedAt: 0 }, 10), /^\[#####\.\.\.\.\.\]  50%/);
});

download('a connection dropped mid-transfer is resumed with Range and ends with the right checksum', async () => {
  // How many of the 200,000 bytes reach the client before the drop depends on socket buffering, so the test
  // checks what the protocol guarantees instead: each request resumes from exactly the bytes the client had
  // written (the .partial file's size when the request arrives) and asks for exactly that with Range.
  const dest = join(work, 'b.tar.bz2');
  const writtenAtRequest: number[] = [];
  const dropAfterBytes = 200_000;
  server = await startFileServer(model.archive, {
    dropAfterBytes, dropTimes: 2,
    onRequest: () => writtenAtRequest.push(existsSync(`${dest}.partial`) ? statSync(`${dest}.partial`).size : 0),
  });
  const result = await downloadWithResume({ url: server.url, dest, retryDelayMs: 10 });
  assert.is(await sha256File(dest), model.sha256);
  assert.is(result.attempts.length, 3, 'two drops, then a complete transfer');
  assert.is(result.attempts[0], 0);
  assert.equal(result.attempts, writtenAtRequest, 'each attempt resumes from the bytes already written');
  assert.equal(server.requests.map((r) => r.range), result.attempts.map((offset) => (offset > 0 ? `bytes=${offset}-` : null)));
  for (let i = 1; i < result.attempts.length; i++) {
    const gained = result.attempts[i]! - result.attempts[i - 1]!;
    assert.ok(gained >= 0 && gained <= dropAfterBytes, `attempt ${i} kept ${gained} bytes of the ${dropAfterBytes} sent`);
  }
});

download('a partial file left by an earlier run is continued, not restarted', async () => {
  server = await startFileServer(model.archive);
  const dest = join(work, 'c.tar.bz2');
  writeFileSync(`${dest}.partial`, readFileSync(model.archive).subarray(0, 123_456));
  const result = await downloadWithResume({ url: server.url, dest });
  assert.equal(result.attempts, [123_456]);
  assert.is(await sha256File(dest), model.sha256);
});

download('a server that ignores Range makes it start over cleanly', async () => {
  server = await startFileServer(model.archive, { ignoreRange: true });
  const dest = join(work, 'd.tar.bz2');
  writeFileSync(`${dest}.partial`, Buffer.from('stale bytes from another file'));
  await downloadWithResume({ url: server.url, dest });
  assert.is(await sha256File(dest), model.sha256);
});

download('HTTP 404 fails at once with a typed error; nothing left behind', async () => {
  server = await startFileServer(model.archive, { status: 404 });
  const dest = join(work, 'e.tar.bz2');
  const err = await downloadWithResume({ url: server.url, dest, retryDelayMs: 10 }).catch((e: unknown) => e);
  assert.instance(err, DownloadError);
  assert.match((err as Error).message, /HTTP 404/);
  assert.is(server.requests.length, 1);
  assert.not.ok(existsSync(dest));
});

download.run();

// ---------------------------------------------------------------------------------------------------------
const install = suite('installModel: pull, checksum, --from archive/directory');
install.before.each(setup);
install.after.each(teardown);

install('pull: downloads (through a dropped connection), verifies the pinned sha256, unpacks into models/NAME', async () => {
  server = await startFileServer(model.archive, { dropAfterBytes: 300_000 });
  const modelsDir = join(work, 'models');
  const entry = { ...model.entry, sha256: model.sha256 };
  const result = await installModel(entry, { modelsDir, url: server.url, retryDelayMs: 10 });
  assert.is(result.status, 'installed');
  assert.is(result.verified, true);
  assert.is(result.dir, join(modelsDir, entry.name));
  for (const file of [...Object.values(entry.files), 'test_wavs/0.wav']) assert.ok(existsSync(join(result.dir, file)), file);
  assert.equal(readFileSync(join(result.dir, 'encoder.int8.onnx')), readFileSync(join(model.root, 'encoder.int8.onnx')));
  // No staging dirs or archives left over.
  assert.equal(readdirSync(modelsDir).filter((n) => n !== '.downloads'), [entry.name]);
  assert.equal(readdirSync(join(modelsDir, '.downloads')), []);
  // A second pull is a no-op.
  assert.is((await installModel(entry, { modelsDir, url: server.url })).status, 'already-installed');
});

install('wrong checksum: refused, nothing installed, bad download deleted', async () => {
  server = await startFileServer(model.archive);
  const modelsDir = join(work, 'models');
  const entry = { ...model.entry, sha256: 'f'.repeat(64) };
  const err = await installModel(entry, { modelsDir, url: server.url }).catch((e: unknown) => e);
  assert.instance(err, ChecksumMismatchError);
  assert.match((err as Error).message, model.sha256);
  assert.not.ok(existsSync(join(modelsDir, entry.name)));
  assert.equal(readdirSync(join(modelsDir, '.downloads')), []);
});

install('no pinned sha256: refused before downloading unless --trust-unverified, which prints the sha256', async () => {
  server = await startFileServer(model.archive);
  const modelsDir = join(work, 'models');
  const err = await installModel(model.entry, { modelsDir, url: server.url }).catch((e: unknown) => e);
  assert.instance(err, UnverifiedArchiveError);
  assert.match((err as Error).message, '--trust-unverified');
  assert.is(server.requests.length, 0, 'no bandwidth spent');
  const notices: string[] = [];
  const result = await installModel(model.entry, { modelsDir, url: server.url, trustUnverified: true, onNotice: (l) => notices.push(l) });
  assert.is(result.status, 'installed');
  assert.is(result.verified, false);
  assert.is(result.sha256, model.sha256);
  assert.match(notices.join('\n'), model.sha256);
});

install('--from ARCHIVE (air-gapped): checked against the pin and installed without any network', async () => {
  const modelsDir = join(work, 'models');
  const entry = { ...model.entry, sha256: model.sha256, url: 'http://127.0.0.1:9/never-contacted.tar.bz2' };
  const result = await installModel(entry, { modelsDir, from: model.archive });
  assert.is(result.status, 'installed');
  assert.ok(existsSync(join(modelsDir, entry.name, 'tokens.txt')));
  assert.ok(existsSync(model.archive), 'the operator\'s archive is left alone');
  const wrong = await installModel({ ...entry, sha256: '0'.repeat(64) }, { modelsDir: join(work, 'm2'), from: model.archive }).catch((e: unknown) => e);
  assert.instance(wrong, ChecksumMismatchError);
  assert.not.ok(existsSync(join(work, 'm2', entry.name)));
});

install('--from DIR: the unpacked directory (or its parent) is copied in after checking the files', async () => {
  const modelsDir = join(work, 'models');
  const result = await installModel(model.entry, { modelsDir, from: model.sourceDir });
  assert.is(result.status, 'installed');
  assert.ok(statSync(join(modelsDir, model.entry.name, 'test_wavs', '1.wav')).size > 0);
  rmSync(join(model.root, 'tokens.txt'));
  const err = await installModel(model.entry, { modelsDir: join(work, 'm3'), from: model.root }).catch((e: unknown) => e);
  assert.instance(err, ModelInstallError);
  assert.match((err as Error).message, 'tokens.txt');
});

install('an archive that is not an archive: a typed error naming it, nothing installed', async () => {
  const bogus = join(work, 'bogus.tar.bz2');
  writeFileSync(bogus, 'definitely not bzip2');
  const modelsDir = join(work, 'models');
  const err = await installModel(model.entry, { modelsDir, from: bogus, trustUnverified: true }).catch((e: unknown) => e);
  assert.instance(err, ModelInstallError);
  assert.match((err as Error).message, /cannot unpack bogus\.tar\.bz2/);
  assert.not.ok(existsSync(join(modelsDir, model.entry.name)));
  assert.equal(readdirSync(modelsDir), []);
});

install.run();
