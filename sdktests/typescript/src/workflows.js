// Workflows bundled by the TypeScript SDK's worker (plain CommonJS: no
// TypeScript build step is needed for this test).
const { proxyActivities, sleep } = require('@temporalio/workflow');

const { double } = proxyActivities({ startToCloseTimeout: '10 seconds' });

async function timerThenDouble(n) {
  await sleep(200);
  return await double(n);
}

module.exports = { timerThenDouble };
