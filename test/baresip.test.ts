/**
 * A real softphone over SIP/TLS with mandatory SRTP: Debian's baresip (its own SIP, TLS and SRTP stacks, not
 * ours) dials carevox's TLS port with `mediaenc=srtp-mand`. What baresip decoded (its sndfile dump) must hold
 * the greeting, and every packet it sent us must have authenticated.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import wavefile from 'wavefile';
import { startTestServer } from './support/server.js';

const baresip = suite('baresip over TLS + SRTP');
const available = spawnSync('sh', ['-c', 'command -v baresip'], { stdio: 'ignore' }).status === 0;

baresip('a TLS call with mandatory SRTP: the greeting is heard, the caller\'s media decrypts', async () => {
  assert.ok(available, 'baresip is not installed (Debian package baresip-core): .ci/run installs it');
  const dir = mkdtempSync(join(tmpdir(), 'carevox-baresip-'));
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', '/CN=localhost',
    '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost', '-keyout', key, '-out', cert], { stdio: 'ignore' });
  const silence = new wavefile.WaveFile();
  silence.fromScratch(1, 8000, '16', new Int16Array(8000 * 8));
  writeFileSync(join(dir, 'in.wav'), silence.toBuffer());
  writeFileSync(join(dir, 'config'), [
    'poll_method epoll', 'sip_listen 127.0.0.1:0', `sip_cafile ${cert}`,
    `audio_player sndfile,${dir}`, `audio_source aufile,${join(dir, 'in.wav')}`, `audio_alert sndfile,${dir}`,
    'module_path /usr/lib/baresip/modules',
    ...['stdio', 'g711', 'aufile', 'sndfile', 'srtp', 'account', 'menu'].map((m) => `module ${m}.so`),
    `snd_path ${dir}`, '',
  ].join('\n'));
  writeFileSync(join(dir, 'accounts'), '<sip:patient@127.0.0.1;transport=tls>;regint=0;mediaenc=srtp-mand;audio_codecs=PCMU\n');
  const server = await startTestServer({ sip: { enabled: true, tlsCertFile: cert, tlsKeyFile: key, srtp: 'required' } });
  try {
    const port = server.bridges.sipPorts!.tls!;
    const output = await new Promise<string>((resolve) => {
      const child = spawn('baresip', ['-f', dir, '-t', '8', '-e', `/dial sip:carevox@127.0.0.1:${port};transport=tls`], { stdio: ['ignore', 'pipe', 'pipe'] });
      let text = '';
      child.stdout.on('data', (d: Buffer) => { text += d.toString(); });
      child.stderr.on('data', (d: Buffer) => { text += d.toString(); });
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      child.on('close', () => { clearTimeout(timer); resolve(text); });
    });
    const dump = readdirSync(dir).find((f) => f.endsWith('-dec.wav'));
    assert.ok(dump, `baresip recorded what it heard (output: ${output.slice(-600)})`);
    const heard = new wavefile.WaveFile(readFileSync(join(dir, dump!)));
    const samples = heard.getSamples(false, Int16Array) as unknown as Int16Array;
    let audible = 0;
    for (let i = 0; i + 160 <= samples.length; i += 160) {
      let sum = 0;
      for (let j = i; j < i + 160; j++) sum += samples[j]! * samples[j]!;
      if (Math.sqrt(sum / 160) > 300) audible++;
    }
    assert.ok(audible > 100, `the greeting reached baresip decrypted (${audible} audible frames)`);
    // baresip's -t timer stops it without ending the call on our side: hand the call over (BYE) and read the RTP summary.
    await Promise.all(server.server.registry.sessions().map((session) => session.handOver()));
    const rtp = server.logs.find((l) => l.msg === 'rtp summary')?.rtp as { packetsIn: number; srtpRejected: number } | undefined;
    assert.ok(rtp && rtp.packetsIn > 100, `baresip's SRTP reached us (${rtp?.packetsIn} packets)`);
    assert.is(rtp!.srtpRejected, 0, 'every packet authenticated');
  } finally {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

baresip.run();
