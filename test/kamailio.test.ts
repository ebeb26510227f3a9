/**
 * Scale-out: the shipped docker/kamailio/kamailio.cfg (Debian's kamailio, dispatcher module) in front of two
 * real carevox nodes. sipp calls Kamailio; the calls are spread over both nodes, and ACK and BYE follow the
 * recorded route to the node that answered. A node that drains answers OPTIONS and INVITE 503, and its calls
 * go to the other node.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './support/ports.js';
import { runSipp } from './support/sipp.js';
import { startTestServer, type TestServer } from './support/server.js';

const config = new URL('../docker/kamailio/kamailio.cfg', import.meta.url).pathname;
const scenario = new URL('./fixtures/sipp/uac-routed.xml', import.meta.url).pathname;
const kamailio = suite('kamailio dispatcher');
const available = spawnSync('kamailio', ['-v'], { stdio: 'ignore' }).status === 0;

async function startKamailio(nodes: number[]): Promise<{ port: number; stop(): Promise<void>; output(): string }> {
  const dir = mkdtempSync(join(tmpdir(), 'carevox-kamailio-'));
  const port = await freePort();
  const list = join(dir, 'dispatcher.list');
  writeFileSync(list, nodes.map((p) => `1 sip:127.0.0.1:${p}`).join('\n') + '\n');
  // The shipped file, on a loopback port of the test's choosing.
  const cfg = join(dir, 'kamailio.cfg');
  writeFileSync(cfg, readFileSync(config, 'utf8').replace('#!substdef "!LISTEN_PORT!5060!g"', `#!substdef "!LISTEN_PORT!${port}!g"`).replace(/0\.0\.0\.0:LISTEN_PORT/g, '127.0.0.1:LISTEN_PORT'));
  const child: ChildProcess = spawn('kamailio', ['-DD', '-E', '-f', cfg, '-A', `DISPATCHER_LIST="${list}"`, '-Y', dir, '-P', join(dir, 'kamailio.pid'), '-w', dir], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (d: Buffer) => { output += d.toString(); });
  child.stderr!.on('data', (d: Buffer) => { output += d.toString(); });
  const deadline = performance.now() + 10_000;
  while (!/INFO:.*(main|init)/.test(output) && child.exitCode === null && performance.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  await new Promise((r) => setTimeout(r, 500));
  if (child.exitCode !== null) throw new Error(`kamailio exited: ${output.slice(-2000)}`);
  return {
    port,
    output: () => output,
    stop: async () => {
      child.kill('SIGTERM');
      await new Promise((r) => { if (child.exitCode !== null) r(undefined); else child.once('exit', r); });
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

kamailio('calls through Kamailio reach both nodes and end cleanly; a draining node is skipped', async () => {
  if (!available) {
    assert.unreachable('kamailio is not installed (Debian package kamailio): .ci/run installs it');
    return;
  }
  const nodes: TestServer[] = [];
  let proxy: Awaited<ReturnType<typeof startKamailio>> | null = null;
  try {
    for (let i = 0; i < 2; i++) nodes.push(await startTestServer({ sip: { enabled: true } }));
    proxy = await startKamailio(nodes.map((n) => n.bridges.sipPorts!.udp));
    const run = await runSipp({ port: proxy.port, scenario, calls: 4, concurrent: 4, rate: 4, durationMs: 1500, timeoutSeconds: 40 });
    assert.is(run.code, 0, `sipp through kamailio failed:\n${run.errors}\n${run.stdout}\n${proxy.output().slice(-1500)}`);
    const deadline = performance.now() + 10_000;
    while (nodes.reduce((n, s) => n + s.records().length, 0) < 4 && performance.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    const counts = nodes.map((n) => n.records().length);
    assert.equal(counts, [2, 2], 'round robin over the two nodes');
    assert.ok(nodes.every((n) => n.records().every((r) => r.outcome === 'caller-hung-up')), 'every BYE reached the node that took the call');

    // Node 0 drains: it answers 503, Kamailio tries the next node, the caller never sees it.
    void nodes[0]!.server.drain({ seconds: 30 });
    const drained = await runSipp({ port: proxy.port, scenario, calls: 2, concurrent: 1, rate: 2, durationMs: 500, timeoutSeconds: 40 });
    assert.is(drained.code, 0, `calls while a node drains failed:\n${drained.errors}\n${drained.stdout}`);
    const after = Date.now() + 10_000;
    while (nodes[1]!.records().length < 4 && Date.now() < after) await new Promise((r) => setTimeout(r, 100));
    assert.is(nodes[1]!.records().length, 4, 'both calls went to the node still taking calls');
    assert.is(nodes[0]!.records().length, 2);
  } finally {
    await proxy?.stop();
    for (const node of nodes) await node.close();
  }
});

kamailio.run();
