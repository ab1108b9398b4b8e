// Smoke test of the harness against any running enclave: chromium opens /healthz over the
// real TLS door, the JSON says "ok", the security headers are there, and a screenshot is kept.
//   ENCLAVE_URL=https://127.0.0.1:PORT ENCLAVE_CERT=DIR/tls/cert.pem node tests/web/smoke.mjs

import { baseUrl, check, finish, launch, shot, step } from './lib.mjs';

const base = baseUrl();
const { page } = await launch({ locale: 'en-US' });

const response = await step('open /healthz', async () => {
  const response = await page.goto(`${base}/healthz`);
  check(response, 'no response for /healthz');
  check(response.status() === 200, `/healthz answered ${response.status()}`);
  return response;
});

await step('status is ok', async () => {
  const body = await response.json();
  check(body.status === 'ok', `/healthz status is ${JSON.stringify(body.status)}`);
});

await step('security headers', async () => {
  const headers = await response.allHeaders();
  for (const name of ['content-security-policy', 'strict-transport-security']) {
    check(headers[name], `/healthz has no ${name} header (headers: ${JSON.stringify(headers)})`);
  }
});

await step('screenshot', () => shot(page, 'smoke-healthz'));

await finish();
