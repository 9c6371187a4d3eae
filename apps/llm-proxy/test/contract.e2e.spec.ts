import { startService } from '@patchbay/nest';
import { CONTRACT_BODY_LIMIT, describeServiceContract } from '@patchbay/testkit';
import { LLM_PROXY } from '../src/service';

// No registry: the contract's answers all come before a connector is looked up.
describeServiceContract('llm-proxy', (env, options) => startService(LLM_PROXY, env, options), {
  env: { PATCHBAY_REGISTRY_URL: 'http://127.0.0.1:1', LLM_PROXY_BODY_LIMIT_BYTES: String(CONTRACT_BODY_LIMIT) },
});
