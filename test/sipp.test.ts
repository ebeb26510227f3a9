/**
 * carevox's SIP listener against sipp (Debian's sip-tester), a real SIP peer: the shipped PCMA recording and
 * RFC 2833 digit, CANCEL while ringing, a source outside the allow-list, a digest challenge, 50 calls at once.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { runSipp } from './support/sipp.js';
import { startTestServer, type TestServer } from './support/server.js';

const scenario = (name: string) => new URL(`./fixtures/sipp/${name}`, import.meta.url).pathname;
const sipp = suite('sipp');

async function withServer(config: Parameters<typeof startTestServer>[0], run: (server: TestServer, port: number) => Promise<void>): Promise<void> {
  const server = await startTestServer({ ...config, sip: { enabled: true, ...config?.sip } });
  try {
    await run(server, server.bridges.sipPorts!.udp);
  } finally {
    await server.close();
  }
}

const refused = async (server: TestServer) => server.services.metrics.registry.getSingleMetricAsString('carevox_calls_refused_total');

sipp('plays the shipped PCMA pcap and an RFC 2833 digit: the digit reaches the dialog, the call ends cleanly', async () => {
  await withServer({}, async (server, port) => {
    const run = await runSipp({ port, scenario: scenario('uac-pcap.xml') });
    assert.is(run.code, 0, `sipp failed:\n${run.errors}\n${run.stdout}`);
    await server.recordOf(server.records()[0]?.callId ?? 'none', 5000).catch(() => undefined);
    const record = server.records()[0];
    assert.ok(record, 'the call was recorded');
    assert.is(record!.outcome, 'caller-hung-up');
    assert.is(record!.dtmf, 1, 'the digit from dtmf_2833_1.pcap reached the dialog');
    assert.ok(record!.botSentences.length >= 2, 'the bot spoke');
  });
});

sipp('CANCEL while ringing: 200 to the CANCEL, 487 to the INVITE, no call started', async () => {
  await withServer({ sip: { answerDelayMs: 3000 } }, async (server, port) => {
    const run = await runSipp({ port, scenario: scenario('uac-cancel.xml') });
    assert.is(run.code, 0, `sipp failed:\n${run.errors}\n${run.stdout}`);
    assert.is(server.records().length, 0);
    assert.is(server.server.registry.activeCount, 0);
  });
});

sipp('a source outside SIP_ALLOW is refused 403 and counted', async () => {
  await withServer({ sip: { allow: '192.0.2.0/24' } }, async (server, port) => {
    const run = await runSipp({ port, scenario: scenario('uac-refused.xml') });
    assert.is(run.code, 0, `sipp failed:\n${run.errors}\n${run.stdout}`);
    assert.match(await refused(server), /transport="sip",reason="source-not-allowed"} 1/);
  });
});

sipp('a trunk that authenticates: 407 challenge, then the digest answer is let in', async () => {
  await withServer({ sip: { allow: '192.0.2.0/24', authUsers: 'trunk:s3cret-pass' } }, async (server, port) => {
    const run = await runSipp({ port, scenario: scenario('uac-auth.xml'), extraArgs: ['-au', 'trunk', '-ap', 's3cret-pass'] });
    assert.is(run.code, 0, `sipp failed:\n${run.errors}\n${run.stdout}`);
    assert.is(server.records().length, 1, 'the authenticated call was taken');
    const wrong = await runSipp({ port, scenario: scenario('uac-auth.xml'), extraArgs: ['-au', 'trunk', '-ap', 'wrong'], timeoutSeconds: 15 });
    assert.is.not(wrong.code, 0, 'a wrong password is not let in');
    assert.match(await refused(server), /reason="auth-wrong-response"} 1/);
  });
});

sipp('50 concurrent calls are all answered and ended', async () => {
  await withServer({ limits: { maxCalls: 60 } }, async (server, port) => {
    const run = await runSipp({ port, scenario: 'uac', calls: 50, concurrent: 50, rate: 50, durationMs: 4000, timeoutSeconds: 90 });
    assert.is(run.code, 0, `sipp failed:\n${run.errors}\n${run.stdout}`);
    const deadline = performance.now() + 15_000;
    while (server.records().length < 50 && performance.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    assert.is(server.records().length, 50);
    assert.ok(server.records().every((r) => r.outcome === 'caller-hung-up'));
  });
});

sipp.run();
