// The TypeScript SDK's own test environment, TestWorkflowEnvironment.createLocal,
// with devcluster as its dev server (executable: existing-path): the core's
// ephemeral-server code launches `<binary> server start-dev ...` and waits for
// the port, as it does for the Temporal CLI. DCTEST_DEVCLUSTER_BIN is the binary (not DEVCLUSTER_*: devcluster reads those as its own configuration and refuses unknown ones).
const { test } = require('node:test');
const assert = require('node:assert/strict');
const { TestWorkflowEnvironment } = require('@temporalio/testing');
const { Worker, Runtime, DefaultLogger } = require('@temporalio/worker');
const { defineSearchAttributeKey, SearchAttributeType } = require('@temporalio/common');

const bin = process.env.DCTEST_DEVCLUSTER_BIN;
Runtime.install({ logger: new DefaultLogger('WARN') });

const customerId = defineSearchAttributeKey('CustomerId', SearchAttributeType.KEYWORD);

test('createLocal runs devcluster: a workflow with a timer, an activity and a search attribute', async () => {
  assert.ok(bin, 'set DCTEST_DEVCLUSTER_BIN to the devcluster binary');
  const began = Date.now();
  const env = await TestWorkflowEnvironment.createLocal({
    server: {
      executable: { type: 'existing-path', path: bin },
      searchAttributes: [customerId],
    },
  });
  const readyMs = Date.now() - began;
  try {
    const worker = await Worker.create({
      connection: env.nativeConnection,
      taskQueue: 'ts-harness',
      workflowsPath: require.resolve('../src/workflows'),
      activities: { double: async (n) => n * 2 },
    });
    const result = await worker.runUntil(
      env.client.workflow.execute('timerThenDouble', {
        taskQueue: 'ts-harness',
        workflowId: 'ts-harness-1',
        args: [21],
        typedSearchAttributes: [{ key: customerId, value: 'c-42' }],
      }),
    );
    assert.equal(result, 42);
    const desc = await env.client.workflow.getHandle('ts-harness-1').describe();
    assert.equal(desc.typedSearchAttributes.get(customerId), 'c-42');
  } finally {
    await env.teardown();
  }
  console.log(`devcluster ready for the TypeScript harness in ${readyMs} ms`);
});
