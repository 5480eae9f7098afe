import { launch, openPage, connect, interactive, axe, shot } from './support/browser.mjs';
import { TestWallet } from './support/wallet.mjs';
const stack = { url: 'http://127.0.0.1:45891', rpc: 'http://localhost:43019', chainId: 31337 };
const keys = { maria: '0x92db14e403b83dfe3df233f83dfa3a0d7096f21ca9b0d6d6b8d88b2b4ec1564e', registrar: '0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80', okafor: '0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d' };
const browser = await launch();
for (const [who, path] of [['maria', '/patient'], ['registrar', '/registrar'], ['okafor', '/doctor'], [null, '/'], [null, '/graphql']]) {
  const wallet = who ? new TestWallet({ rpc: stack.rpc, key: keys[who], chainId: 31337 }) : null;
  const page = await openPage(browser, stack, { wallet });
  await page.goto(stack.url + path);
  if (wallet) { await connect(page, wallet); }
  if (path === '/graphql') { await page.waitForSelector('.graphiql-container', { timeout: 15000 }); await page.waitForTimeout(1000); }
  else console.log(path, 'interactive', await interactive(page));
  await page.waitForTimeout(500);
  console.log(path, await shot(page, 'explore' + path.replace(/\//g, '_')));
  console.log(JSON.stringify(await axe(page), null, 0).slice(0, 1500));
  console.log('problems', page.problems);
  await page.context().close();
}
await browser.close();
