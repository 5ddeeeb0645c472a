// The canvas-load journey for Elastic Synthetics (@elastic/synthetics): the same steps and waits
// as scripts/benchkit/raw_canvas.py, repeated BENCH_JOURNEYS times in one run (one browser, a
// context per journey), so scripts/bench can take the marginal cost of a journey.
const { journey, step, expect } = require('@elastic/synthetics');

const count = Number(process.env.BENCH_JOURNEYS || 1);
for (let i = 0; i < count; i++) {
  journey(`canvas load ${i}`, ({ page, params }) => {
    let wfId;
    step('ensure fixture', async () => {
      const login = await page.request.post(`${params.url}/api/auth/login`,
        { data: { username: 'prober', password: params.password } });
      const token = (await login.json()).token;
      const listed = await page.request.get(
        `${params.url}/api/workflows?name_prefix=prober-fixture-canvas`,
        { headers: { authorization: `Bearer ${token}` } });
      wfId = (await listed.json()).workflows.find((w) => w.name === 'prober-fixture-canvas').id;
    });
    step('sign in', async () => {
      await page.goto(`${params.url}/login`);
      await page.getByTestId('login-username').fill('prober');
      await page.getByTestId('login-password').fill(params.password);
      await page.getByTestId('login-submit').click();
      await expect(page.getByTestId('list-status')).toHaveText('ready');
    });
    step('open canvas', async () => {
      await page.goto(`${params.url}/workflows/${wfId}`);
      await expect(page.getByTestId('canvas-status')).toHaveText('ready');
    });
  });
}
