import { startService, type StartedService } from '@patchbay/nest';
import { CONTRACT_BODY_LIMIT, CONTRACT_TOKENS, LogCapture, contractEnv, describeOperationContract } from '@patchbay/testkit';
import { LLM_PROXY } from '../src/service';

describe('llm-proxy: every declared operation keeps the kit contract', () => {
  const logs = new LogCapture();
  let service: StartedService;

  beforeAll(async () => {
    // No registry: the contract's answers all come before a connector is looked up.
    service = await startService(
      LLM_PROXY,
      contractEnv({ PATCHBAY_REGISTRY_URL: 'http://127.0.0.1:1', LLM_PROXY_BODY_LIMIT_BYTES: String(CONTRACT_BODY_LIMIT) }),
      { logDestination: logs },
    );
  });

  afterAll(async () => {
    await service.close();
  });

  describeOperationContract(() => ({
    url: service.url,
    tokens: CONTRACT_TOKENS,
    bodyLimit: CONTRACT_BODY_LIMIT,
    logs: () => logs.text(),
    markShuttingDown: () => service.kit.readiness.markShuttingDown(),
  }));
});
