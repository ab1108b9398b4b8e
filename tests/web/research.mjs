// A researcher in the browser: requests the release of a finished job's outputs (a refusal
// first: a failed table needs a justification), sees the request, and withdraws it.
// Inputs (besides lib.mjs's): ENCLAVE_JOB (alice's finished job with table.csv, which passed,
// and risky.csv, which failed). alice has signed in before in this installation, so this
// script uses the next TOTP step's code (a code is good once; the server accepts the step
// either side of now).

import {
  baseUrl, check, credentials, env, finish, launch, shot, step, takePageProblems, totp,
} from './lib.mjs';

const base = baseUrl();
const job = env('ENCLAVE_JOB');
const { page } = await launch({ locale: 'en-US' });

await step('alice signs in (next step\'s code)', async () => {
  const { password, totp: secret } = credentials('alice');
  await page.goto(`${base}/login`);
  await page.fill('input[name=user]', 'alice');
  await page.fill('input[name=password]', password);
  await page.fill('input[name=totp]', totp(secret, new Date(Date.now() + 30_000)));
  await Promise.all([page.waitForNavigation(), page.click('button[type=submit]')]);
  check(new URL(page.url()).pathname === '/', `signed in: ${page.url()}`);
});

async function send(files, context, justification) {
  await page.goto(`${base}/jobs/${job}`);
  const form = page.locator('#request-form');
  for (const file of files) await form.locator(`input[name=files][value="${file}"]`).check();
  await form.locator('textarea[name=context]').fill(context);
  await form.locator('textarea[name=justification]').fill(justification);
  await Promise.all([page.waitForNavigation(), form.locator('button[type=submit]').click()]);
}

await step('a failed table without a justification is refused, with the reason', async () => {
  await send(['table.csv', 'risky.csv'], 'counts by group', '');
  const error = await page.locator('#request-error').innerText();
  check(/justification/.test(error), `the refusal names the justification: ${error}`);
  await shot(page, 'researcher-request-refused-en');
  takePageProblems();
});

let request;
await step('with a justification the request is made', async () => {
  await send(['table.csv', 'risky.csv'], 'counts by group', 'group a is public knowledge');
  const path = new URL(page.url()).pathname;
  check(/^\/requests\/rel-[0-9a-f]+$/.test(path), `on the request page: ${path}`);
  request = path.split('/').pop();
  check(/submitted/.test(await page.locator('#request-state').innerText()), 'submitted');
  check(await page.locator('#request-files tbody tr').count() === 2, 'two files');
  await shot(page, 'researcher-request-made-en');
});

await step('alice withdraws it', async () => {
  await Promise.all([page.waitForNavigation(), page.click('#withdraw-form button')]);
  check(/withdrawn/.test(await page.locator('#request-state').innerText()), 'withdrawn');
  check(await page.locator('#withdraw-form').count() === 0, 'nothing left to withdraw');
  await shot(page, 'researcher-request-withdrawn-en');
});

console.log(`request ${request}`);
await finish();
