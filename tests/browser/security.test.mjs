// Security and accessibility checks in the browser: pages refuse missing, expired and forged
// tokens; API calls without a fresh signed token are refused; a foreign origin cannot frame the
// pages (the browser enforces the CSP's frame-ancestors). (Labels: flow.test.mjs.)

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { BASE, json, launch, token } from './lib.mjs';

const COOKIE = 'pd_local_user=1001:101'; // Anna Admin of Acme Analytics (company 1001)
let context;
let page;
let foreign;
let foreignUrl;

before(async () => {
  context = await launch();
  page = await context.newPage();
  // A page on another origin (another port of the loopback) that frames our panel.
  foreign = createServer((req, res) => {
    const src = decodeURIComponent(new URL(req.url, 'http://x').searchParams.get('src') || '');
    res.writeHead(200, { 'Content-Type': 'text/html' });
    res.end(`<!doctype html><title>foreign</title><iframe id="victim" src="${src.replace(/"/g, '&quot;')}"></iframe>`);
  });
  await new Promise((resolve) => foreign.listen(0, '127.0.0.1', resolve));
  foreignUrl = `http://127.0.0.1:${foreign.address().port}`;
});

after(async () => {
  if (context) await context.close();
  if (foreign) foreign.close();
});

const pageUrl = (path, tok, extra = '') => `${BASE}${path}?id=x&theme=light&selectedIds=1${extra}${tok === null ? '' : `&token=${tok}`}`;

test('a page with a valid token is served with the security headers', async () => {
  const response = await page.goto(pageUrl('/ui/panel', await token(COOKIE), '&companyId=1001&userId=101'));
  assert.equal(response.status(), 200);
  const headers = response.headers();
  const csp = headers['content-security-policy'];
  assert.match(csp, /script-src 'self'/);
  assert.match(csp, /frame-ancestors /);
  assert.doesNotMatch(csp, /unsafe-inline/);
  assert.equal(headers['x-content-type-options'], 'nosniff');
  assert.equal(headers['referrer-policy'], 'no-referrer');
  assert.equal(headers['cache-control'], 'no-store');
  const html = await response.text();
  assert.doesNotMatch(html, /eyJ/, 'no token in the page');
  assert.doesNotMatch(html, /<script>(?!<)/, 'no inline script');
  assert.doesNotMatch(html, /\son[a-z]+=/i, 'no inline event handler');
  for (const src of html.match(/src="[^"]+"/g)) assert.match(src, /^src="\/ui\/assets\//);
});

test('pages with a missing, expired or forged token are refused', async () => {
  const valid = await token(COOKIE);
  const expired = await token(COOKIE, -600);
  const [head, body, sig] = valid.split('.');
  const claims = JSON.parse(Buffer.from(body, 'base64url').toString());
  claims.companyId = 2002;
  const forged = `${head}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.${sig}`;
  const cases = [
    ['missing', pageUrl('/ui/panel', null)],
    ['expired', pageUrl('/ui/modal', expired)],
    ['forged', pageUrl('/ui/settings', forged)],
    ['garbage', pageUrl('/ui/invoices', 'not-a-token')],
    ['forged, on the bulk modal', pageUrl('/ui/bulk', forged, '&selectedIds=1,2')],
    ['another company in the URL', pageUrl('/ui/panel', valid, '&companyId=2002')],
    ['another user in the URL', pageUrl('/ui/panel', valid, '&userId=102')],
  ];
  for (const [name, url] of cases) {
    const response = await page.goto(url);
    assert.equal(response.status(), 401, name);
    const html = await response.text();
    assert.doesNotMatch(html, /<script/, `${name}: no page script`);
    assert.equal(await page.locator('#app h1').textContent(), 'This page can only be opened from Pipedrive', name);
  }
});

test('API calls without a fresh signed token are refused', async () => {
  const expired = await token(COOKIE, -600);
  const valid = await token(COOKIE);
  const paths = ['/api/settings', '/api/deals/1/invoices', '/api/deals/1/draft', '/api/connection'];
  for (const path of paths) {
    const none = await json(`${BASE}${path}`);
    assert.equal(none.status, 401, `${path} without a token`);
    assert.match(none.headers.get('content-type'), /problem\+json/);
    const old = await json(`${BASE}${path}`, { headers: { Authorization: `Bearer ${expired}` } });
    assert.equal(old.status, 401, `${path} with an expired token`);
    // The iframe URL's `token` query parameter is not an API credential.
    const inQuery = await json(`${BASE}${path}?token=${valid}`);
    assert.equal(inQuery.status, 401, `${path} with the token in the query`);
  }
  // From inside a page too: a fetch without the SDK's token is refused.
  await page.goto(pageUrl('/ui/panel', valid));
  const status = await page.evaluate(async () => (await fetch('/api/deals/1/invoices')).status);
  assert.equal(status, 401);
});

test('a foreign origin cannot frame the pages; the allowed host can', async () => {
  const src = pageUrl('/ui/panel', await token(COOKIE), '&companyId=1001&userId=101');
  const refused = [];
  page.on('console', (m) => { if (/frame-ancestors|Refused to frame/i.test(m.text())) refused.push(m.text()); });
  await page.goto(`${foreignUrl}/?src=${encodeURIComponent(src)}`);
  await page.waitForTimeout(1500);
  const child = page.frames().find((f) => f !== page.mainFrame());
  assert.ok(child, 'the iframe exists');
  const rendered = await child.evaluate(() => Boolean(document.querySelector('#app'))).catch(() => false);
  assert.equal(rendered, false, 'the panel did not render inside the foreign page');
  assert.ok(refused.length > 0 || !child.url().startsWith(BASE), `blocked by the browser (${child.url()})`);

  // Control: the stand-in host (an allowed ancestor) renders the same page.
  await page.goto(`${BASE}/_local/deal/1`);
  await page.frameLocator('#panel-frame').locator('#app[aria-busy="false"]').waitFor();
});

test('a user who has not installed the app sees a clear state, not data', async () => {
  await context.addCookies([{ name: 'pd_local_user', value: '1001:103', url: BASE }]);
  await page.goto(`${BASE}/_local/deal/1`);
  const state = page.frameLocator('#panel-frame').locator('section.state h1');
  await state.waitFor();
  assert.equal(await state.textContent(), 'No access');
  assert.equal(await page.frameLocator('#panel-frame').locator('li.invoice').count(), 0);
});
