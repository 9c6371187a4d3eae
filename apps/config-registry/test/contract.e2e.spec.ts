import { startService, type StartedService } from '@patchbay/nest';
import {
  CONTRACT_BODY_LIMIT,
  CONTRACT_TOKENS,
  LogCapture,
  contractEnv,
  describeOperationContract,
  dropSchema,
  testDatabaseUrl,
  uniqueSchema,
} from '@patchbay/testkit';
import { registryService } from '../src/service';

describe('config-registry: every declared operation keeps the kit contract', () => {
  const logs = new LogCapture();
  const schema = uniqueSchema('pbcontract');
  let service: StartedService;

  beforeAll(async () => {
    service = await startService(registryService, contractEnv({ PATCHBAY_DATABASE_URL: testDatabaseUrl(), PATCHBAY_DATABASE_SCHEMA: schema }), {
      logDestination: logs,
    });
  });

  afterAll(async () => {
    await service.close();
    await dropSchema(schema);
  });

  describeOperationContract(() => ({
    url: service.url,
    tokens: CONTRACT_TOKENS,
    bodyLimit: CONTRACT_BODY_LIMIT,
    logs: () => logs.text(),
    markShuttingDown: () => service.kit.readiness.markShuttingDown(),
  }));
});
