/**
 * SIP over TLS (SIP_TLS_PORT with a certificate): a keep-alive OPTIONS and a request split across TLS records
 * are answered on the same connection. (SRTP is not implemented yet, so a whole call over TLS is not tried.)
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { startTestServer } from './support/server.js';

test('OPTIONS over TLS is answered 200 on the same connection; a CRLF ping gets its pong', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'carevox-tls-'));
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', '/CN=localhost', '-keyout', key, '-out', cert], { stdio: 'ignore' });
  const server = await startTestServer({ sip: { enabled: true, tlsCertFile: cert, tlsKeyFile: key } });
  try {
    const port = server.bridges.sipPorts!.tls!;
    assert.ok(port > 0, 'a TLS port is bound');
    const socket = connect({ host: '127.0.0.1', port, rejectUnauthorized: false });
    await new Promise<void>((resolve, reject) => { socket.once('secureConnect', resolve); socket.once('error', reject); });
    let received = '';
    socket.on('data', (d: Buffer) => { received += d.toString(); });
    const options = ['OPTIONS sip:carevox@127.0.0.1 SIP/2.0', 'Via: SIP/2.0/TLS 127.0.0.1:5999;branch=z9hG4bKtls1', 'From: <sip:probe@127.0.0.1>;tag=a',
      'To: <sip:carevox@127.0.0.1>', 'Call-ID: tls-1', 'CSeq: 1 OPTIONS', 'Max-Forwards: 70', 'Content-Length: 0', '', ''].join('\r\n');
    socket.write('\r\n\r\n');
    socket.write(options.slice(0, 40));
    await new Promise((r) => setTimeout(r, 50));
    socket.write(options.slice(40));
    const deadline = performance.now() + 5000;
    while (!received.includes('SIP/2.0 200') && performance.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.match(received, /^\r\nSIP\/2\.0 200 OK\r\n/, 'pong, then the 200');
    assert.match(received, /CSeq: 1 OPTIONS/);
    socket.destroy();
    const health = await (await fetch(`${server.baseUrl}/health`)).json() as { sip?: { state: string; tls: number } };
    assert.is(health.sip?.state, 'listening');
    assert.is(health.sip?.tls, port);
  } finally {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
