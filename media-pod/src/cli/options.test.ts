import { test } from 'node:test';
import assert from 'node:assert/strict';
import os from 'node:os';
import { parseOptions, OptionsError } from './options.js';

test('flags parse with defaults', () => {
  const o = parseOptions(['--manifests', 'examples', '--sip-listen', '127.0.0.1:5070'], {});
  assert.equal(o.manifests, 'examples');
  assert.deepEqual(o.sipListen, { host: '127.0.0.1', port: 5070 });
  assert.equal(o.advertise, '127.0.0.1');
  assert.deepEqual(o.rtpPorts, { lo: 20000, hi: 29999 });
  assert.equal(o.sipDomain, 'sip.local');
  assert.equal(o.lockout.threshold, 10);
});

test('environment variables are read and flags override them', () => {
  const env = { SIPFLOW_CONFIG_DIR: '/etc/sipflow', SIPFLOW_SIP_LISTEN: '[::1]:5060', SIPFLOW_SIP_DOMAIN: 'env.example', SIPFLOW_RTP_PORTS: '30000-30100' };
  const o = parseOptions(['--sip-domain=flag.example'], env);
  assert.equal(o.configDir, '/etc/sipflow');
  assert.deepEqual(o.sipListen, { host: '::1', port: 5060 });
  assert.equal(o.sipDomain, 'flag.example');
  assert.deepEqual(o.rtpPorts, { lo: 30000, hi: 30100 });
});

test('bad values are refused with a message naming the flag', () => {
  assert.throws(() => parseOptions(['--manifests', 'x', '--sip-listen', 'nope'], {}), (e: Error) => e instanceof OptionsError && /--sip-listen/.test(e.message));
  assert.throws(() => parseOptions(['--manifests', 'x', '--sip-listen', '127.0.0.1:5060', '--rtp-ports', '9-3'], {}), /--rtp-ports/);
  assert.throws(() => parseOptions(['--sip-listen', '127.0.0.1:5060'], {}), /config source is required/);
  assert.throws(() => parseOptions(['--manifests', 'a', '--config-dir', 'b', '--sip-listen', '127.0.0.1:1'], {}), /choose one/);
  assert.throws(() => parseOptions(['--manifests', 'a'], {}), /--advertise is required/);
  assert.throws(() => parseOptions(['--manifests', 'a', '--bogus'], {}), /unknown flag --bogus/);
});

test('SIP over TLS: on with a certificate and a key, port 5061 by default; half a pair or stray TLS flags are refused', () => {
  const base = ['--manifests', 'x', '--sip-listen', '127.0.0.1:5060'];
  assert.equal(parseOptions(base, {}).sipTls, undefined, 'off by default');
  const on = parseOptions([...base, '--sip-tls-cert', '/tls/tls.crt'], { SIPFLOW_SIP_TLS_KEY: '/tls/tls.key' });
  assert.deepEqual(on.sipTls, { port: 5061, certFile: '/tls/tls.crt', keyFile: '/tls/tls.key', requireClientCert: false, reloadIntervalSec: 10 });
  const env = {
    SIPFLOW_SIP_TLS_CERT: '/c', SIPFLOW_SIP_TLS_KEY: '/k', SIPFLOW_SIP_TLS_PORT: '5071', SIPFLOW_SIP_TLS_CA: '/ca',
    SIPFLOW_SIP_TLS_REQUIRE_CLIENT_CERT: 'true', SIPFLOW_SIP_TLS_RELOAD_INTERVAL: '30',
  };
  assert.deepEqual(parseOptions(base, env).sipTls, { port: 5071, certFile: '/c', keyFile: '/k', caFile: '/ca', requireClientCert: true, reloadIntervalSec: 30 });
  assert.throws(() => parseOptions([...base, '--sip-tls-cert', '/c'], {}), /--sip-tls-cert is set but --sip-tls-key is not/);
  assert.throws(() => parseOptions([...base, '--sip-tls-key', '/k'], {}), /--sip-tls-key is set but --sip-tls-cert is not/);
  assert.throws(() => parseOptions([...base, '--sip-tls-port', '5071'], {}), /--sip-tls-port need\(s\) --sip-tls-cert and --sip-tls-key/);
  assert.throws(() => parseOptions([...base, '--sip-tls-cert', '/c', '--sip-tls-key', '/k', '--sip-tls-port', '5060'], {}), /is the --sip-listen port/);
  assert.throws(() => parseOptions([...base, '--sip-tls-cert', '/c', '--sip-tls-key', '/k', '--sip-tls-port', '70000'], {}), /out of range/);
});

test('SRTP policy: optional by default, off/required from flag or env, anything else refused', () => {
  const base = ['--manifests', 'x', '--sip-listen', '127.0.0.1:5060'];
  assert.equal(parseOptions(base, {}).srtp, 'optional');
  assert.equal(parseOptions([...base, '--srtp', 'required'], {}).srtp, 'required');
  assert.equal(parseOptions(base, { SIPFLOW_SRTP: 'OFF' }).srtp, 'off');
  assert.throws(() => parseOptions([...base, '--srtp', 'maybe'], {}), /--srtp: expected off, optional or required/);
});

test('--rtp-send-silence: on by default and from the bare flag; off with =false or from the environment', () => {
  const base = ['--manifests', 'x', '--sip-listen', '127.0.0.1:5060'];
  assert.equal(parseOptions(base, {}).rtpSendSilence, true);
  assert.equal(parseOptions([...base, '--rtp-send-silence'], {}).rtpSendSilence, true);
  assert.equal(parseOptions([...base, '--rtp-send-silence=false'], {}).rtpSendSilence, false);
  assert.equal(parseOptions(base, { SIPFLOW_RTP_SEND_SILENCE: 'false' }).rtpSendSilence, false);
  assert.equal(parseOptions(base, { SIPFLOW_RTP_SEND_SILENCE: 'true' }).rtpSendSilence, true);
  // The flag wins over the environment.
  assert.equal(parseOptions([...base, '--rtp-send-silence=false'], { SIPFLOW_RTP_SEND_SILENCE: 'true' }).rtpSendSilence, false);
});

test('external speech services: --tts-url (http/https, with an Authorization header and a timeout) and --speech-recognizer-url (ws/wss)', () => {
  const base = ['--manifests', 'x', '--sip-listen', '127.0.0.1:5060'];
  assert.equal(parseOptions(base, {}).tts, undefined);
  assert.equal(parseOptions(base, {}).speechRecognizer, undefined);
  assert.deepEqual(parseOptions(base, { SIPFLOW_TTS_URL: 'https://tts.example/v1', SIPFLOW_TTS_AUTHORIZATION: 'Bearer k' }).tts, { url: 'https://tts.example/v1', timeoutSec: 5, authorization: 'Bearer k' });
  assert.deepEqual(parseOptions([...base, '--tts-url', 'http://tts:8080/', '--tts-timeout', '9'], {}).tts, { url: 'http://tts:8080/', timeoutSec: 9 });
  assert.throws(() => parseOptions([...base, '--tts-url', 'ftp://tts/'], {}), /--tts-url: expected http:\/\/ or https:\/\//);
  assert.throws(() => parseOptions([...base, '--tts-timeout', '3'], {}), /--tts-timeout needs --tts-url/);
  assert.deepEqual(parseOptions(base, { SIPFLOW_SPEECH_RECOGNIZER_URL: 'wss://asr.example/x' }).speechRecognizer, { url: 'wss://asr.example/x' });
  assert.deepEqual(parseOptions(base, { SIPFLOW_SPEECH_RECOGNIZER_URL: 'ws://asr/', SIPFLOW_SPEECH_RECOGNIZER_AUTHORIZATION: 'Token t' }).speechRecognizer, { url: 'ws://asr/', authorization: 'Token t' });
  assert.throws(() => parseOptions(base, { SIPFLOW_SPEECH_RECOGNIZER_AUTHORIZATION: 'Token t' }), /needs --speech-recognizer-url/);
  assert.throws(() => parseOptions([...base, '--speech-recognizer-url', 'http://asr/'], {}), /expected ws:\/\/ or wss:\/\//);
  assert.throws(() => parseOptions([...base, '--speech-recognizer-url', 'not a url'], {}), /not a URL/);
});

test('the recording store: --recording-url (http/https) with an Authorization value and a spool directory (default: the temporary directory)', () => {
  const base = ['--manifests', 'x', '--sip-listen', '127.0.0.1:5060'];
  assert.equal(parseOptions(base, {}).recording, undefined);
  assert.deepEqual(parseOptions(base, { SIPFLOW_RECORDING_URL: 'https://store/rec', SIPFLOW_RECORDING_AUTHORIZATION: 'Bearer r', SIPFLOW_RECORDING_SPOOL_DIR: '/var/spool/sipflow' }).recording,
    { url: 'https://store/rec', authorization: 'Bearer r', spoolDir: '/var/spool/sipflow' });
  assert.deepEqual(parseOptions([...base, '--recording-url', 'http://store:9000/r'], {}).recording, { url: 'http://store:9000/r', spoolDir: os.tmpdir() });
  assert.throws(() => parseOptions([...base, '--recording-url', 's3://bucket/'], {}), /--recording-url: expected http:\/\/ or https:\/\//);
  assert.throws(() => parseOptions(base, { SIPFLOW_RECORDING_SPOOL_DIR: '/tmp' }), /--recording-spool-dir needs --recording-url/);
  assert.throws(() => parseOptions([...base, '--recording-url', 'http://s/', '--recording-authorization', 'a\r\nX-Evil: 1'], {}), /must be one line/);
});
